# bootchain x86 chain, step bash: the check. bash 2.05b runs this script
# with the name of a file to write: a function, a pipe through coreutils,
# a here-document and command substitution each add a line, and the
# script compares what it wrote with what it should have (exit 1 if not).

out=$1

# A function with a local variable, a loop and arithmetic.
sum_to() {
	local n=$1 total=0
	while [ $n -gt 0 ]; do
		total=$((total + n))
		n=$((n - 1))
	done
	echo "$total"
}

# Command substitution, nested.
greeting=$(echo "bash $(echo 2.05b)")

{
	echo "function: sum_to 10 = $(sum_to 10)"
	# A pipe: coreutils' tr and sort, and bash's own read.
	echo "pipe: $(echo 'c b a' | tr ' ' '\n' | sort | tr '\n' ' ')"
	echo "substitution: $greeting"
	# A here-document, expanded, read by cat.
	cat <<END
here-document: $((6 * 7)) from $greeting
END
} > "$out"

expected='function: sum_to 10 = 55
pipe: a b c 
substitution: bash 2.05b
here-document: 42 from bash 2.05b'

if [ "$(cat "$out")" != "$expected" ]; then
	echo "bash-check: $out differs from what was expected:" >&2
	cat "$out" >&2
	exit 1
fi
echo "bash-check: ok"
