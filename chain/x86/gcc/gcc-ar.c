/* bootchain's ar while GCC 2.95.3 builds libgcc: tcc -ar writes an archive
   whole, from the files it is given, and can neither add a member to an
   archive nor extract one, both of which gcc's makefile asks of ar (it
   builds libgcc2.a with one `ar rc libgcc2.a X.o` per member, then
   libgcc.a from `ar x libgcc2.a`). This small program of ours does
   x (extract) and t (list) itself, and r (add or replace, with c and s
   accepted and ignored) by extracting the archive's members into a
   directory of its own, copying the new files in after them, in order,
   and having tcc -ar write the whole archive again, symbol index
   included. Usage: ar x|t ARCHIVE [MEMBER...]; ar r[cs] ARCHIVE FILE... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TCC "/usr/bin/tcc-musl"
#define MAXMEM 4096

static char *names[MAXMEM];
static int nnames;

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "ar: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
	exit(1);
}

static int wanted(const char *name, int argc, char **argv)
{
	int i;
	if (argc == 0)
		return 1;
	for (i = 0; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

/* walk the archive: list or extract (into dir, when not null) its
   members, skipping the symbol index; record their names in order. */
static void walk(const char *lib, int extract, const char *dir, int argc, char **argv)
{
	char magic[8], hdr[60], name[17], path[4096];
	FILE *f = fopen(lib, "rb");
	if (!f)
		die("cannot open", lib);
	if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "!<arch>\n", 8) != 0)
		die("not an archive", lib);
	while (fread(hdr, 1, 60, f) == 60) {
		long size = strtol(hdr + 48, 0, 10), i;
		char *p;
		memcpy(name, hdr, 16);
		name[16] = 0;
		for (i = 15; i >= 0 && (name[i] == ' ' || name[i] == 0); i--)
			name[i] = 0;
		p = strchr(name, '/');
		if (p && p != name)
			*p = 0;
		if (name[0] == '/' || name[0] == 0 || !wanted(name, argc, argv)) {
			fseek(f, size + (size & 1), SEEK_CUR);
			continue;
		}
		if (nnames == MAXMEM)
			die("too many members", lib);
		names[nnames++] = strdup(name);
		if (!extract) {
			if (!dir)
				printf("%s\n", name);
			fseek(f, size + (size & 1), SEEK_CUR);
			continue;
		}
		snprintf(path, sizeof path, "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
		{
			FILE *o = fopen(path, "wb");
			if (!o)
				die("cannot write", path);
			for (i = 0; i < size; i++) {
				int c = getc(f);
				if (c == EOF)
					die("truncated", lib);
				putc(c, o);
			}
			if (fclose(o) != 0)
				die("cannot write", path);
		}
		if (size & 1)
			getc(f);
	}
	fclose(f);
}

static void copy(const char *from, const char *to)
{
	FILE *i = fopen(from, "rb"), *o;
	int c;
	if (!i)
		die("cannot open", from);
	o = fopen(to, "wb");
	if (!o)
		die("cannot write", to);
	while ((c = getc(i)) != EOF)
		putc(c, o);
	fclose(i);
	if (fclose(o) != 0)
		die("cannot write", to);
}

int main(int argc, char **argv)
{
	const char *op, *lib;
	if (argc < 3)
		die("usage: ar x|t ARCHIVE [MEMBER...] or ar r[cs] ARCHIVE FILE...", 0);
	op = argv[1];
	lib = argv[2];
	if (strchr(op, 'x')) {
		walk(lib, 1, 0, argc - 3, argv + 3);
		return 0;
	}
	if (strchr(op, 't')) {
		walk(lib, 0, 0, argc - 3, argv + 3);
		return 0;
	}
	if (strchr(op, 'r') || strchr(op, 'q')) {
		char dir[4096], path[4096], *args[MAXMEM + 4];
		int i, j, st;
		pid_t pid;
		snprintf(dir, sizeof dir, "%s.ar-members", lib);
		mkdir(dir, 0755);
		if (access(lib, F_OK) == 0)
			walk(lib, 1, dir, 0, 0);
		for (i = 3; i < argc; i++) {
			const char *base = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
			snprintf(path, sizeof path, "%s/%s", dir, base);
			copy(argv[i], path);
			for (j = 0; j < nnames && strcmp(names[j], base) != 0; j++)
				;
			if (j == nnames) {
				if (nnames == MAXMEM)
					die("too many members", lib);
				names[nnames++] = strdup(base);
			}
		}
		args[0] = TCC;
		args[1] = "-ar";
		args[2] = "rc";
		args[3] = (char *)lib;
		for (i = 0; i < nnames; i++) {
			snprintf(path, sizeof path, "%s/%s", dir, names[i]);
			args[4 + i] = strdup(path);
		}
		args[4 + nnames] = 0;
		pid = fork();
		if (pid == 0) {
			execv(TCC, args);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			die("tcc -ar failed for", lib);
		for (i = 0; i < nnames; i++) {
			snprintf(path, sizeof path, "%s/%s", dir, names[i]);
			unlink(path);
		}
		rmdir(dir);
		return 0;
	}
	die("operation not known to bootchain's ar", op);
	return 1;
}
