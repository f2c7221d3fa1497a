/* bootchain's stand-in for grep while GCC 2.95.3 is configured and built:
   the chain has no grep yet, and GCC's configure scripts and makefiles use
   it to look for a pattern in a file or a pipe. This is a small program of
   ours on musl's POSIX regular expressions, not GNU grep; it knows what
   those scripts ask of grep: the options -q -s -v -c -l -i -E -F -e and -x,
   basic (default) or extended regular expressions, files or stdin; run as
   egrep it reads extended ones, as fgrep fixed strings.
   Exit status as grep's: 0 a line selected, 1 none, 2 an error. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int quiet, silent, invert, count, list, icase, extended, fixed, whole;

static int matches(regex_t *re, const char *pat, char *line)
{
	if (fixed) {
		if (whole)
			return icase ? strcasecmp(line, pat) == 0 : strcmp(line, pat) == 0;
		if (!icase)
			return strstr(line, pat) != 0;
		{
			size_t n = strlen(pat);
			for (; *line; line++)
				if (strncasecmp(line, pat, n) == 0)
					return 1;
			return *pat == 0;
		}
	}
	{
		regmatch_t m;
		if (regexec(re, line, 1, &m, 0) != 0)
			return 0;
		return !whole || (m.rm_so == 0 && line[m.rm_eo] == 0);
	}
}

static int grep(FILE *f, const char *name, int many, regex_t *re, const char *pat)
{
	static char *line;
	static size_t cap;
	long n = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = 0;
		if (matches(re, pat, line) == invert)
			continue;
		n++;
		if (quiet)
			exit(0);
		if (list) {
			printf("%s\n", name);
			return 1;
		}
		if (!count) {
			if (many)
				printf("%s:", name);
			printf("%s\n", line);
		}
	}
	if (count) {
		if (many)
			printf("%s:", name);
		printf("%ld\n", n);
	}
	return n > 0;
}

int main(int argc, char **argv)
{
	const char *pat = 0;
	regex_t re;
	int i, any = 0, err = 0;
	const char *self = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (strcmp(self, "egrep") == 0)
		extended = 1;
	if (strcmp(self, "fgrep") == 0)
		fixed = 1;
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		char *o;
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		for (o = argv[i] + 1; *o; o++) {
			switch (*o) {
			case 'q': quiet = 1; break;
			case 's': silent = 1; break;
			case 'v': invert = 1; break;
			case 'c': count = 1; break;
			case 'l': list = 1; break;
			case 'i': icase = 1; break;
			case 'E': extended = 1; break;
			case 'F': fixed = 1; break;
			case 'x': whole = 1; break;
			case 'e':
				if (o[1])
					pat = o + 1;
				else if (i + 1 < argc)
					pat = argv[++i];
				goto next;
			default:
				fprintf(stderr, "grep: unknown option -%c\n", *o);
				return 2;
			}
		}
	next:;
	}
	if (!pat) {
		if (i >= argc) {
			fprintf(stderr, "usage: grep [-qsvclixEF] [-e] PATTERN [FILE...]\n");
			return 2;
		}
		pat = argv[i++];
	}
	if (!fixed && regcomp(&re, pat, (extended ? REG_EXTENDED : 0) | (icase ? REG_ICASE : 0)) != 0) {
		fprintf(stderr, "grep: bad pattern: %s\n", pat);
		return 2;
	}
	if (i >= argc)
		return grep(stdin, "(standard input)", 0, &re, pat) ? 0 : 1;
	{
		int many = argc - i > 1;
		for (; i < argc; i++) {
			FILE *f = fopen(argv[i], "r");
			if (!f) {
				if (!silent)
					fprintf(stderr, "grep: %s: cannot open\n", argv[i]);
				err = 1;
				continue;
			}
			any |= grep(f, argv[i], many, &re, pat);
			fclose(f);
		}
	}
	return any ? 0 : err ? 2 : 1;
}
