/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A stand-in for a Windows program (powershell.exe, cscript.exe,
 * shutdown.exe, net.exe, OSPPREARM.EXE, an Office Volume License Pack) in
 * the Wine tests of the first-boot scripts
 * (tests/t2300-firstboot-wine.sh).  One program, copied under each name.
 * Built with x86_64-w64-mingw32-gcc; it is not part of kmsprep.
 *
 * Environment (set by the test; Windows paths):
 *   STUB_DIR  holds calls.log, where each run appends one line:
 *             "NAME|ARG|ARG...|VAR=value...|rc=N"
 *             and rc.txt, lines "NAME WORD CODE [TIMES]": the first whose
 *             NAME is this program's and whose WORD is one of its
 *             arguments (or *) gives the exit code (decimal, or 0x... for
 *             an HRESULT); otherwise 0.  A line with TIMES counts only
 *             while calls.log holds fewer than TIMES such runs, so that
 *             "powershell ato 0xC004F074 3" fails three times, then the
 *             next line (or 0) answers.
 *   STUB_ENV  names of environment variables to record, comma-separated;
 *             a value naming an existing file is followed by "(file)".
 * It also prints "stub NAME ARG..." on standard output, so that the
 * script's log shows where the call happened.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

static void
base_name(const char *path, char *out, size_t size)
{
	const char *p = path, *q;
	size_t n;

	for (q = path; *q; q++)
		if (*q == '\\' || *q == '/')
			p = q + 1;
	n = strlen(p);
	if (n > 4 && _stricmp(p + n - 4, ".exe") == 0)
		n -= 4;
	if (n >= size)
		n = size - 1;
	for (q = p; (size_t)(q - p) < n; q++)
		out[q - p] = (char)tolower((unsigned char)*q);
	out[n] = '\0';
}

/* How many runs of NAME with WORD among their arguments (any, for "*")
 * calls.log holds already. */
static int
runs_before(const char *dir, const char *name, const char *word)
{
	char path[MAX_PATH], line[2048];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s\\calls.log", dir);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *tok = strtok(line, "|\r\n");
		int hit = strcmp(word, "*") == 0;

		if (tok == NULL || _stricmp(tok, name) != 0)
			continue;
		while (!hit && (tok = strtok(NULL, "|\r\n")) != NULL)
			hit = _stricmp(tok, word) == 0;
		n += hit;
	}
	fclose(f);
	return n;
}

static long
scripted_rc(const char *dir, const char *name, int argc, char **argv)
{
	char path[MAX_PATH], line[512], n[64], w[256], code[64];
	FILE *f;
	int i, k, times;

	snprintf(path, sizeof(path), "%s\\rc.txt", dir);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		k = sscanf(line, "%63s %255s %63s %d", n, w, code, &times);
		if (k < 3 || _stricmp(n, name) != 0 ||
		    (k == 4 && runs_before(dir, name, w) >= times))
			continue;
		for (i = 1; i < argc; i++)
			if (_stricmp(argv[i], w) == 0)
				break;
		if (strcmp(w, "*") == 0 || i < argc) {
			fclose(f);
			/* "-1" and "0xC004F074" alike, as 32 bits. */
			return (long)strtoul(code, NULL, 0);
		}
	}
	fclose(f);
	return 0;
}

int
main(int argc, char **argv)
{
	char self[MAX_PATH], name[64], path[MAX_PATH], vars[1024];
	const char *dir = getenv("STUB_DIR"), *env = getenv("STUB_ENV");
	unsigned long rc;
	FILE *log;
	int i;

	if (GetModuleFileNameA(NULL, self, sizeof(self)) == 0)
		snprintf(self, sizeof(self), "%s", argv[0]);
	base_name(self, name, sizeof(name));
	printf("stub %s", name);
	for (i = 1; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n");
	fflush(stdout);
	if (dir == NULL)
		return 0;
	rc = (unsigned long)scripted_rc(dir, name, argc, argv);
	snprintf(path, sizeof(path), "%s\\calls.log", dir);
	log = fopen(path, "a");
	if (log == NULL)
		return 99;
	fprintf(log, "%s", name);
	for (i = 1; i < argc; i++)
		fprintf(log, "|%s", argv[i]);
	if (env) {
		char *tok;

		snprintf(vars, sizeof(vars), "%s", env);
		for (tok = strtok(vars, ","); tok; tok = strtok(NULL, ",")) {
			const char *v = getenv(tok);

			fprintf(log, "|%s=%s", tok, v ? v : "");
			if (v && GetFileAttributesA(v) != INVALID_FILE_ATTRIBUTES)
				fprintf(log, "(file)");
		}
	}
	fprintf(log, "|rc=%ld\n", (long)rc);
	fclose(log);
	return (int)rc;
}
