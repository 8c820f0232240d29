/* The option loop every tool shares, and the settings it resolves. */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rep.h"

struct rep_opts rep_opt;
/* -C DIR, each given: entered in turn, each relative to the one before,
 * as make -C and git -C do */
static const char **chdirs;
static size_t nchdirs, chdirs_cap;
static int entered;

static void add_chdir(const char *dir)
{
	/* as git -C "": nothing, so that -C "$DIR" with DIR unset stays
	 * where it is rather than failing on a path no one wrote */
	if (!*dir)
		return;
	if (nchdirs == chdirs_cap) {
		chdirs_cap = chdirs_cap ? 2 * chdirs_cap : 4;
		chdirs = rep_xrealloc(chdirs, chdirs_cap * sizeof *chdirs);
	}
	chdirs[nchdirs++] = dir;
}

/* Enters the -C directories, once whoever asks: 0, or -1 with errno set
 * and *failed (if not NULL) the -C that could not be entered. */
int rep_opt_enter(const char **failed)
{
	if (entered)
		return 0;
	entered = 1;
	for (size_t i = 0; i < nchdirs; i++)
		if (chdir(chdirs[i]) < 0) {
			if (failed)
				*failed = chdirs[i];
			return -1;
		}
	return 0;
}

/* Whether -C was given: paths printed for the reader of a pipe, who
 * stayed where it started, are then absolute. */
int rep_opt_moved(void)
{
	return nchdirs > 0;
}

/* The options every tool has, after its own: -C, then --db and --apps
 * where the tool reads them, then -h and -V. */
static const struct rep_optdef chdir_opt[] = { {'C', NULL, "DIR", "work as if started in DIR"}, {0} };
static const struct rep_optdef files_opts[] = {
	{REP_OPT_DB, "db", "FILE", "metadata database (default: $REP_DB or ./metadata.db)"},
	{REP_OPT_APPS, "apps", "DIR", "applications directory (default: $REP_APPS or ./rep_applications)"},
	{0},
};
static const struct rep_optdef last_opts[] = {
	{'h', "help", NULL, "show this help"},
	{'V', "version", NULL, "show the version"},
	{0},
};

/* The help line of one option: "  -c, --name ARG" then its text from
 * column 24; a line break in the text goes on at that column. */
static void put_option(const struct rep_optdef *o)
{
	char left[64];
	int n = 0;

	if (o->val < 128)
		n = snprintf(left, sizeof left, "-%c%s", o->val, o->name ? ", " : "");
	else
		n = snprintf(left, sizeof left, "    ");
	if (o->name)
		n += snprintf(left + n, sizeof left - (size_t)n, "--%s", o->name);
	if (o->arg)
		snprintf(left + n, sizeof left - (size_t)n, " %s", o->arg);
	printf("  %-21s ", left);
	for (const char *p = o->help; *p; p++) {
		putchar(*p);
		if (*p == '\n')
			printf("%24s", "");
	}
	putchar('\n');
}

static const struct rep_optdef *const *all_opts(const struct rep_tool *tool)
{
	static const struct rep_optdef *sets[5];
	int n = 0;

	sets[n++] = tool->opts;
	sets[n++] = chdir_opt;
	if (tool->files)
		sets[n++] = files_opts;
	sets[n++] = last_opts;
	sets[n] = NULL;
	return sets;
}

static _Noreturn void print_usage(const struct rep_tool *tool)
{
	fputs(tool->synopsis, stdout);
	if (tool->names_from_stdin)
		puts("With no NAME, names are read from stdin (first field of each record).");
	putchar('\n');
	for (const struct rep_optdef *const *set = all_opts(tool); *set; set++)
		for (const struct rep_optdef *o = *set; o->val; o++)
			put_option(o);
	rep_finish();
	exit(0);
}

static _Noreturn void print_version(void)
{
	printf("%s %s\n", rep_prog, REP_VERSION);
	rep_finish();
	exit(0);
}

/* The option getopt_long refused, as the user wrote it. */
static const char *bad_option(char **argv, int *has_value)
{
	static char shortname[3] = "-?";
	char *arg = argv[optind - 1];

	*has_value = 0;
	if (strncmp(arg, "--", 2) == 0) {
		/* optopt is set for a known long option given a value it
		 * does not take, 0 for an unknown one */
		*has_value = optopt != 0 && strchr(arg, '=') != NULL;
		return strtok(arg, "=");
	}
	shortname[1] = (char)optopt;
	return shortname;
}

/* The long options an abbreviation --name could mean, ", " between them,
 * when more than one (getopt_long refuses it as unknown); NULL else. */
static char *candidates(const char *name, const struct option *longopts)
{
	static char buf[256];
	size_t n = 0, len;
	int found = 0;

	if (strncmp(name, "--", 2) != 0)
		return NULL;
	name += 2;
	len = strlen(name);
	buf[0] = 0;
	for (const struct option *o = longopts; o->name; o++)
		if (strncmp(o->name, name, len) == 0 && n + strlen(o->name) + 5 < sizeof buf) {
			n += (size_t)snprintf(buf + n, sizeof buf - n, "%s--%s", found++ ? ", " : "", o->name);
		}
	return found > 1 ? buf : NULL;
}

/* getopt_long's short option string and long options, from the table */
static void getopt_tables(const struct rep_tool *tool, char *shortopts, size_t size,
    struct option *longopts, size_t nlong)
{
	size_t ns = 0, nl = 0;

	shortopts[ns++] = ':';
	for (const struct rep_optdef *const *set = all_opts(tool); *set; set++)
		for (const struct rep_optdef *o = *set; o->val; o++) {
			if (o->val < 128 && ns + 3 < size) {
				shortopts[ns++] = (char)o->val;
				if (o->arg)
					shortopts[ns++] = ':';
			}
			if (o->name && nl + 1 < nlong)
				longopts[nl++] = (struct option){ o->name, o->arg ? required_argument : no_argument,
				    NULL, o->val };
		}
	shortopts[ns] = 0;
	longopts[nl] = (struct option){ 0 };
}

/* The next option of the tool's own; the shared ones are handled here. */
int rep_getopt(int argc, char **argv, const struct rep_tool *tool)
{
	static char opts[64];
	static struct option longopts[32];
	int c, value;

	if (!opts[0])
		getopt_tables(tool, opts, sizeof opts, longopts, sizeof longopts / sizeof longopts[0]);
	while ((c = getopt_long(argc, argv, opts, longopts, NULL)) != -1) {
		switch (c) {
		case 'h': print_usage(tool);
		case 'V': print_version();
		case 'C': add_chdir(optarg); break;
		case 'q': rep_opt.quiet = 1; break;
		case 'H': rep_opt.header = 1; break;
		case 'n': rep_opt.dry_run = 1; break;
		case REP_OPT_DB: rep_opt.db = optarg; break;
		case REP_OPT_APPS: rep_opt.apps = optarg; break;
		case ':':
			rep_usage_error("%s: option requires an argument", bad_option(argv, &value));
		case '?': {
			const char *name = bad_option(argv, &value);
			char *which = value ? NULL : candidates(name, longopts);
			if (which)
				rep_usage_error("%s: ambiguous option (%s)", name, which);
			rep_usage_error("%s: %s", name, value ? "option takes no argument" : "unknown option");
		}
		default:
			return c;
		}
	}
	return -1;
}

/* argv read again, leniently: each option it holds passed to fn with
 * its value (what getopt_long refuses is passed over, and nothing is
 * said); returns the number of operands. For a tool that, on a usage
 * error, must know what the command line meant to do with its input
 * (rep_on_usage_error). The option loop is left at its end. */
int rep_opt_scan(int argc, char **argv, const struct rep_tool *tool,
    void (*fn)(int val, const char *arg, void *ctx), void *ctx)
{
	char opts[64];
	struct option longopts[32];
	int c;

	getopt_tables(tool, opts, sizeof opts, longopts, sizeof longopts / sizeof longopts[0]);
	optind = 0;     /* GNU: start over, state and all */
	opterr = 0;
	/* every -C, for rep_opt_enter, unless they were entered already */
	if (!entered)
		nchdirs = 0;
	while ((c = getopt_long(argc, argv, opts, longopts, NULL)) != -1) {
		if (c == 'C' && !entered)
			add_chdir(optarg);
		if (c != '?' && c != ':')
			fn(c, optarg, ctx);
	}
	return argc - optind;
}

/* An option's numeric value, lo to hi, or a usage error. */
long rep_opt_number(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || !*s || v < lo || v > hi)
		rep_usage_error("%s %s: not a number from %ld to %ld", opt, s, lo, hi);
	return v;
}

static char *absolute(const char *path, const char *cwd)
{
	if (path[0] == '/')
		return rep_xstrdup(path);
	size_t n = strlen(cwd) + strlen(path) + 2;
	char *p = rep_xmalloc(n);
	snprintf(p, n, "%s/%s", cwd, path);
	return p;
}

static const char *setting(const char *opt, const char *env, const char *def)
{
	const char *v = getenv(env);
	if (opt)
		return opt;
	return v && *v ? v : def;
}

/* Settings are resolved once, here: a later chdir changes nothing. */
void rep_opt_finish(void)
{
	char cwd[4096];
	const char *failed = NULL;

	/* a usage error: the command line names what cannot be, and the
	 * records a pipe brings get their failure records (rep-tar,
	 * rep-push: rep_on_usage_error) */
	if (rep_opt_enter(&failed) < 0)
		rep_usage_error("-C %s: %s", failed, strerror(errno));
	if (!getcwd(cwd, sizeof cwd))
		rep_die_errno("current directory");
	rep_opt.db = setting(rep_opt.db, "REP_DB", "metadata.db");
	rep_opt.apps = setting(rep_opt.apps, "REP_APPS", "rep_applications");
	if (!*rep_opt.db || !*rep_opt.apps)
		rep_usage_error("%s: empty path", !*rep_opt.db ? "--db" : "--apps");
	rep_opt.db_path = absolute(rep_opt.db, cwd);
	rep_opt.apps_path = absolute(rep_opt.apps, cwd);
}

char *rep_now(char buf[32])
{
	time_t t = time(NULL);
	struct tm tm;

	if (t == (time_t)-1 || !gmtime_r(&t, &tm) ||
	    !strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		rep_die("cannot read the clock");
	return buf;
}

/* A name fit for the user field of a record: note text, and short enough
 * that a history line keeps within a line's 65536 bytes beside a note. */
static int user_ok(const char *name)
{
	return name && *name && strlen(name) <= 256 && !rep_note_error(name);
}

/* Who runs the tool, for the history, a target's log and its lock:
 * the login name (LOGNAME, as login and sshd set it; else the password
 * database's name for the real user ID; else that ID), and the person
 * behind sudo, who would otherwise be lost: "root(sudo:alice)". USER
 * is not read: POSIX names LOGNAME the login name, and su, depending on
 * its options, leaves USER as it found it. A value that
 * is not note text (a TAB, a control character, bad UTF-8) would forge
 * fields of the records it goes into: it is passed over. */
const char *rep_user(void)
{
	static char *who;
	char uid[24];
	const char *name = getenv("LOGNAME"), *sudo = getenv("SUDO_USER");

	if (who)
		return who;
	if (!user_ok(name)) {
		struct passwd *pw = getpwuid(getuid());
		name = pw && user_ok(pw->pw_name) ? pw->pw_name : NULL;
	}
	if (!name) {
		snprintf(uid, sizeof uid, "%lu", (unsigned long)getuid());
		name = uid;
	}
	if (user_ok(sudo) && strcmp(sudo, name) != 0) {
		size_t n = strlen(name) + strlen(sudo) + sizeof "(sudo:)";
		who = rep_xmalloc(n);
		snprintf(who, n, "%s(sudo:%s)", name, sudo);
	} else {
		who = rep_xstrdup(name);
	}
	return who;
}
