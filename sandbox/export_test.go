package sandbox

// UseMemoryCgroups turns the memory cgroup on or off for the runs that
// follow (off: RLIMIT_AS), so that tests try both paths on one machine.
func UseMemoryCgroups(on bool) (restore func()) {
	old := memoryCgroups
	memoryCgroups = on
	return func() { memoryCgroups = old }
}
