/* Targets over ssh. The far side runs one POSIX sh script (below) and
 * needs nothing of rep: sh, tar, gzip, sha256sum, find, mv. Every word
 * that reaches the remote shell goes through shell_quote(). One session
 * per target for the whole run: the one that holds the lock also runs
 * every later step, so a remote login (and its shell's start-up files)
 * happens once. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rep.h"

/* The far side. `sh -c SCRIPT rep-push state DIR` lists a target (-n);
 * `... lock DIR WHO TIME [make]` takes the lock and then serves, on the
 * same session, one command per line of its stdin until EOF, when it
 * drops the lock: "stage RELEASE SHA256 SIZE MANIFEST_SHA256 FILES" and
 * SIZE bytes of archive, "switch TO WAS" ("-" for none), "prune NAME...",
 * "manifest NAME". Each reply ends with a line "ok", "busy<TAB>lock" or
 * "error<TAB>why"; lines of a MANIFEST sent back start with "|". A
 * command runs in a subshell: its failure leaves the lock held. */
static const char script[] =
	"set -u\n"
	"LC_ALL=C; export LC_ALL\n"
	"op=$1 dir=$2; shift 2\n"
	"tab=$(printf '\\t')\n"
	"fail() { printf 'error\\t%s\\n' \"$*\"; exit 1; }\n"
	"live() {\n"
	"	[ -h current ] || return 0\n"
	"	p=$(cd -P current 2>/dev/null && pwd -P) || return 0\n"
	"	r=$(cd -P releases 2>/dev/null && pwd -P) || return 0\n"
	"	if [ \"${p%/*}\" = \"$r\" ]; then printf '%s' \"${p##*/}\"; fi\n"
	"}\n"
	"listing() {\n"
	"	if [ -e current ] && [ ! -h current ]; then fail 'current: exists and is not a symbolic link'; fi\n"
	"	printf 'current\\t%s\\n' \"$(live)\"\n"
	"	for d in releases/rep_applications_*; do\n"
	"		if [ ! -d \"$d\" ] || [ -h \"$d\" ]; then continue; fi\n"
	"		s=-\n"
	"		if [ -f \"$d/MANIFEST\" ]; then s=$(sha256sum < \"$d/MANIFEST\") || s=-; s=${s%% *}; fi\n"
	"		printf 'release\\t%s\\t%s\\n' \"${d#releases/}\" \"$s\"\n"
	"	done\n"
	"}\n"
	"held() { cat .rep-push.lock 2>/dev/null; }\n"
	"mine() { [ \"$(held)\" = \"$lock\" ] || fail 'lost the lock (removed or broken by someone else)'; }\n"
	"alive() { kill -0 \"$1\" 2>/dev/null || ps -p \"$1\" >/dev/null 2>&1 || [ -d \"/proc/$1\" ]; }\n"
	"enter() { cd -- \"$dir\" 2>/dev/null || fail \"$dir: cannot enter the directory\"; }\n"
	"holder_pid() { pid=${1#*$tab}; pid=${pid%%$tab*}; case $pid in ''|*[!0-9]*) pid= ;; esac; }\n"
	"stage() {\n"
	"	stem=$1 sha=$2 size=$3 msha=$4 nfiles=$5\n"
	"	t=releases/.rep-push-$$\n"
	"	trap 'rm -rf -- \"$t\" \"$t.tar.gz\"' EXIT\n"
	"	rm -rf -- \"$t\" \"$t.tar.gz\"\n"
	"	s=$(head -c \"$size\" | tee \"$t.tar.gz\" | sha256sum) || fail 'sha256sum failed'; s=${s%% *}\n"
	"	n=$(wc -c < \"$t.tar.gz\") || fail \"$t.tar.gz: cannot read\"\n"
	"	[ \"$((n))\" -eq \"$size\" ] || fail \"the archive arrived incomplete ($((n)) of $size bytes)\"\n"
	"	[ \"$s\" = \"$sha\" ] || fail \"the archive arrived damaged (SHA-256 $s, sent $sha)\"\n"
	"	mine\n"
	"	if [ -e \"releases/$stem\" ]; then fail \"releases/$stem: already exists\"; fi\n"
	"	e=$(mkdir \"$t\" 2>&1) || fail \"$e\"\n"
	"	e=$(cd \"$t\" && tar -xpzf - --no-same-owner < \"../${t#releases/}.tar.gz\" 2>&1) ||\n"
	"	    fail \"unpacking: $(printf '%s\\n' \"$e\" | head -n 1)\"\n"
	"	rm -f \"$t.tar.gz\"\n"
	"	s=$(sha256sum < \"$t/MANIFEST\") || fail 'no MANIFEST after unpacking'\n"
	"	[ \"${s%% *}\" = \"$msha\" ] || fail 'MANIFEST differs after unpacking'\n"
	"	while IFS=$tab read -r name rest; do\n"
	"		case $name in ''|'#'*) continue ;; esac\n"
	"		[ -d \"$t/rep_applications/$name\" ] || fail \"$name: missing after unpacking\"\n"
	"	done < \"$t/MANIFEST\"\n"
	"	n=$(find \"$t/rep_applications\" '(' -type f -o -type l ')' | wc -l)\n"
	"	[ \"$((n))\" -eq \"$nfiles\" ] || fail \"$((n)) files and symlinks after unpacking, $nfiles in the manifest\"\n"
	"	mine\n"
	"	if [ -e \"releases/$stem\" ]; then fail \"releases/$stem: already exists\"; fi\n"
	"	e=$(mv -- \"$t\" \"releases/$stem\" 2>&1) || fail \"$e\"\n"
	"	trap - EXIT; echo ok\n"
	"}\n"
	"switch() {\n"
	"	to=${1#-} expect=${2#-}\n"
	"	mine\n"
	"	if [ -e current ] && [ ! -h current ]; then fail 'current: exists and is not a symbolic link'; fi\n"
	"	now=$(live)\n"
	"	[ \"$now\" = \"$expect\" ] || fail \"current changed during the push (now '$now')\"\n"
	"	if [ -z \"$to\" ]; then\n"
	"		e=$(rm -f current 2>&1) || fail \"current: $e\"\n"
	"	else\n"
	"		[ -d \"releases/$to\" ] || fail \"releases/$to: no such release\"\n"
	"		rm -f .rep-push-current\n"
	"		e=$(ln -s \"releases/$to\" .rep-push-current 2>&1) || fail \"$e\"\n"
	"		if ! e=$(mv -T .rep-push-current current 2>&1) && ! mv -h .rep-push-current current 2>/dev/null; then\n"
	"			rm -f .rep-push-current; fail \"current: $e\"\n"
	"		fi\n"
	"	fi\n"
	"	[ \"$(live)\" = \"$to\" ] || fail \"current does not point to releases/$to after the switch\"\n"
	"	echo ok\n"
	"}\n"
	"prune() {\n"
	"	mine\n"
	"	for n in \"$@\"; do e=$(rm -rf -- \"releases/$n\" 2>&1) || fail \"releases/$n: $e\"; done\n"
	"	echo ok\n"
	"}\n"
	"manifest() {\n"
	"	[ -f \"releases/$1/MANIFEST\" ] || fail \"releases/$1/MANIFEST: no such file\"\n"
	"	sed 's/^/|/' \"releases/$1/MANIFEST\" || fail \"releases/$1/MANIFEST: cannot read\"\n"
	"	echo ok\n"
	"}\n"
	"case $op in\n"
	"state)\n"
	"	if [ ! -d \"$dir\" ]; then echo ok; exit 0; fi\n"
	"	enter\n"
	"	h=$(held); holder_pid \"$h\"\n"
	"	if [ -n \"$h\" ] && [ \"${h%%$tab*}\" = \"$(uname -n)\" ] && [ -n \"$pid\" ] && ! alive \"$pid\"; then\n"
	"		printf 'stale-holder\\t%s\\n' \"$h\"\n"
	"	elif [ -n \"$h\" ]; then printf 'holder\\t%s\\n' \"$h\"; fi\n"
	"	listing; echo ok ;;\n"
	"lock)\n"
	"	me=$1 now=$2 make=$3\n"
	"	if [ ! -d \"$dir\" ] && [ \"$make\" != make ]; then echo ok; cat >/dev/null; exit 0; fi\n"
	"	if [ ! -d \"$dir\" ]; then e=$(mkdir -- \"$dir\" 2>&1) || [ -d \"$dir\" ] || fail \"$e\"; fi\n"
	"	enter\n"
	"	if [ ! -d releases ] && [ \"$make\" = make ]; then e=$(mkdir releases 2>&1) || [ -d releases ] || fail \"$e\"; fi\n"
	"	host=$(uname -n)\n"
	"	lock=$host$tab$$$tab$me$tab$now\n"
	"	tmp=.rep-push.lock.$$\n"
	"	rm -f \"$tmp\"\n"
	"	e=$( { printf '%s\\n' \"$lock\" > \"$tmp\"; } 2>&1) || fail \".rep-push.lock: $e\"\n"
	"	if ! ln \"$tmp\" .rep-push.lock 2>/dev/null; then\n"
	"		h=$(held); holder_pid \"$h\"\n"
	"		if [ \"${h%%$tab*}\" = \"$host\" ] && [ -n \"$pid\" ] && ! alive \"$pid\" &&\n"
	"		    mv -f .rep-push.lock \"$tmp.stale\" 2>/dev/null; then\n"
	"			if [ \"$(cat \"$tmp.stale\")\" = \"$h\" ]; then printf 'stale\\t%s\\n' \"$h\";\n"
	"			else ln \"$tmp.stale\" .rep-push.lock 2>/dev/null; fi\n"
	"			rm -f \"$tmp.stale\"\n"
	"		fi\n"
	"		if ! ln \"$tmp\" .rep-push.lock 2>/dev/null; then\n"
	"			rm -f \"$tmp\"; printf 'busy\\t%s\\n' \"$(held)\"; exit 0\n"
	"		fi\n"
	"	fi\n"
	"	rm -f \"$tmp\"\n"
	"	trap 'if [ \"$(held)\" = \"$lock\" ]; then rm -f .rep-push.lock; fi' EXIT\n"
	"	trap 'exit 1' HUP INT TERM PIPE\n"
	"	for d in releases/.rep-push-*; do\n"
	"		if [ -e \"$d\" ] || [ -h \"$d\" ]; then rm -rf -- \"$d\" || fail \"$d: cannot remove\"; fi\n"
	"	done\n"
	"	rm -f .rep-push-current\n"
	"	printf 'locked\\t%s\\n' \"$lock\"\n"
	"	listing; echo ok\n"
	"	set -f\n"
	"	while IFS=' ' read -r cmd args; do\n"
	"		set -- $args\n"
	"		case $cmd in\n"
	"		stage|switch|prune|manifest) ( \"$cmd\" \"$@\" ) ;;\n"
	"		*) printf 'error\\tunknown command %s\\n' \"$cmd\" ;;\n"
	"		esac\n"
	"	done ;;\n"
	"*) fail \"unknown operation $op\" ;;\n"
	"esac\n";

/* The one function that quotes for the remote shell: 'it'\''s'. */
static void shell_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++)
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	fputc('\'', f);
}

/* $REP_SSH split into words like a shell would, as rsync splits
 * $RSYNC_RSH: blanks separate, '...' and "..." quote, \ escapes. Split
 * at start (rep_ssh_init), so that a bad one fails before anything. */
static char **ssh_words(size_t *n)
{
	static char **words;
	static size_t nwords;
	const char *s = getenv("REP_SSH");

	if (words) {
		*n = nwords;
		return words;
	}
	if (!s || !*s)
		s = "ssh";
	char *buf = rep_xmalloc(strlen(s) + 1);
	words = rep_xmalloc((strlen(s) / 2 + 2) * sizeof *words);
	for (const char *p = s; *p;) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		char *w = buf;
		char q = 0;
		for (; *p && (q || (*p != ' ' && *p != '\t' && *p != '\n')); p++) {
			if (q == '\'' && *p != '\'')
				*w++ = *p;
			else if (*p == q)
				q = 0;
			else if (!q && (*p == '\'' || *p == '"'))
				q = *p;
			else if (*p == '\\' && q != '\'' && p[1])
				*w++ = *++p;
			else
				*w++ = *p;
		}
		if (q)
			rep_die("REP_SSH: unterminated %c quote", q);
		*w = 0;
		words[nwords++] = rep_xstrdup(buf);
	}
	free(buf);
	if (!nwords)
		rep_die("REP_SSH: no command");
	*n = nwords;
	return words;
}

void rep_ssh_init(void)
{
	size_t n;
	ssh_words(&n);
}

struct ssh_proc {
	pid_t pid;
	int out;      /* its stdout */
	int in;       /* its stdin, when a pipe */
	int err;      /* its stderr: an unlinked file, read once it ended */
};

static int err_file(void)
{
	const char *tmp = getenv("TMPDIR");
	char path[4096];
	int fd = -1;

	for (int i = 0; fd < 0 && i < 2; i++, tmp = "/tmp") {
		if (!tmp || !*tmp)
			continue;
		fd = open(tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0 && snprintf(path, sizeof path, "%s/rep-push.XXXXXX", tmp) < (int)sizeof path &&
		    (fd = mkostemp(path, O_CLOEXEC)) >= 0)
			unlink(path);
	}
	if (fd < 0)
		rep_die_errno("temporary file");
	return fd;
}

static void ssh_start(struct rep_target *t, int in, struct ssh_proc *p,
    const char *op, const char *const *args, size_t nargs)
{
	size_t nw, n = 0;
	char **w = ssh_words(&nw), dest[600], *cmd;
	size_t cmdlen;
	const char **argv = rep_xmalloc((nw + 8) * sizeof *argv);
	int outp[2], inp[2] = { -1, -1 };

	/* ssh takes the first value it is given: ours comes before the
	 * user's, so that BatchMode cannot be lost */
	argv[n++] = w[0];
	argv[n++] = "-o";
	argv[n++] = "BatchMode=yes";
	for (size_t i = 1; i < nw; i++)
		argv[n++] = w[i];
	argv[n++] = "-o";
	argv[n++] = "ServerAliveInterval=15";
	argv[n++] = "--";
	snprintf(dest, sizeof dest, "%s%s%s", t->user ? t->user : "", t->user ? "@" : "", t->host);
	argv[n++] = dest;
	FILE *f = open_memstream(&cmd, &cmdlen);
	if (!f)
		rep_die("out of memory");
	fputs("sh -c ", f);
	shell_quote(f, script);
	fputs(" rep-push ", f);
	shell_quote(f, op);
	fputc(' ', f);
	shell_quote(f, t->dir);
	for (size_t i = 0; i < nargs; i++) {
		fputc(' ', f);
		shell_quote(f, args[i]);
	}
	if (fclose(f) != 0)
		rep_die("out of memory");
	argv[n++] = cmd;
	argv[n] = NULL;

	if (pipe2(outp, O_CLOEXEC) < 0 || (in < 0 && pipe2(inp, O_CLOEXEC) < 0))
		rep_die_errno("pipe");
	p->err = err_file();
	fflush(NULL);
	pid_t parent = getpid();
	p->pid = fork();
	if (p->pid < 0)
		rep_die_errno("fork");
	if (p->pid == 0) {
		/* ssh goes when rep-push goes, even by SIGKILL: its session
		 * ends, and the far side drops the lock */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(255);
		signal(SIGPIPE, SIG_DFL);
		if (dup2(in >= 0 ? in : inp[0], 0) < 0 || dup2(outp[1], 1) < 0 || dup2(p->err, 2) < 0)
			_exit(255);
		execvp(argv[0], (char *const *)argv);
		dprintf(2, "%s: %s\n", argv[0], strerror(errno));
		_exit(255);
	}
	close(outp[1]);
	if (inp[0] >= 0)
		close(inp[0]);
	p->out = outp[0];
	p->in = inp[1];
	free(cmd);
	free(argv);
}

/* Reads from fd until EOF or, with stop_at_final, until a final line. */
static char *read_reply(int fd, int stop_at_final)
{
	size_t n = 0, cap = 4096;
	char *buf = rep_xmalloc(cap);
	ssize_t r;

	for (;;) {
		if (n + 1 >= cap)
			buf = rep_xrealloc(buf, cap *= 2);
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = 0;
		if (stop_at_final && n && buf[n - 1] == '\n') {
			char *last = buf + n - 1;
			while (last > buf && last[-1] != '\n')
				last--;
			if (strcmp(last, "ok\n") == 0 || strncmp(last, "busy\t", 5) == 0 ||
			    strncmp(last, "error\t", 6) == 0)
				break;
		}
	}
	buf[n] = 0;
	return buf;
}

/* Why ssh failed: the last line it wrote to stderr, else its status. */
static void ssh_failure(const struct rep_target *t, int err, int status)
{
	char buf[4096], *line;
	ssize_t n = pread(err, buf, sizeof buf - 1, 0);
	struct stat st;

	if (fstat(err, &st) == 0 && st.st_size > (off_t)sizeof buf - 1)
		n = pread(err, buf, sizeof buf - 1, st.st_size - (off_t)sizeof buf + 1);
	buf[n > 0 ? n : 0] = 0;
	while ((line = strrchr(buf, '\n')) && line[1] == 0)
		*line = 0;
	line = strrchr(buf, '\n') ? strrchr(buf, '\n') + 1 : buf;
	line[strcspn(line, "\r")] = 0;
	if (*line)
		rep_target_error(t, "%s", line);
	else if (WIFSIGNALED(status))
		rep_target_error(t, "ssh killed by signal %d", WTERMSIG(status));
	else
		rep_target_error(t, "ssh exited with status %d", WEXITSTATUS(status));
}

static int wait_for(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

/* The reply's last line decides; the lines before it are returned in
 * *body (if body). */
static int finish(struct rep_target *t, struct ssh_proc *p, char *out, int status, char **body)
{
	size_t n = strlen(out);
	char *last = out + n;

	if (n && out[n - 1] == '\n')
		last--;
	while (last > out && last[-1] != '\n')
		last--;
	if (strncmp(last, "ok\n", 3) == 0 && status == 0) {
		*last = 0;
		if (body)
			*body = out;
		else
			free(out);
		close(p->err);
		return 0;
	}
	if (strncmp(last, "error\t", 6) == 0) {
		last[strcspn(last, "\n")] = 0;
		rep_target_error(t, "%s", last + 6);
	} else {
		ssh_failure(t, p->err, status);
	}
	free(out);
	close(p->err);
	return -1;
}

static int ssh_run(struct rep_target *t, int in, const char *op,
    const char *const *args, size_t nargs, char **body)
{
	struct ssh_proc p;
	int devnull = -1;

	if (in < 0 && (in = devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		rep_die_errno("/dev/null");
	ssh_start(t, in, &p, op, args, nargs);
	if (devnull >= 0)
		close(devnull);
	char *out = read_reply(p.out, 0);
	close(p.out);
	return finish(t, &p, out, wait_for(p.pid), body);
}

static void parse_listing(struct rep_target *t, char *text)
{
	char *save, *line;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f1 = strchr(line, '\t'), *f2;
		if (!f1)
			continue;
		*f1++ = 0;
		if (strcmp(line, "current") == 0 && strlen(f1) <= REP_NAME_MAX) {
			snprintf(t->current, sizeof t->current, "%s", f1);
		} else if (strcmp(line, "release") == 0 && (f2 = strchr(f1, '\t'))) {
			*f2++ = 0;
			if (rep_release_name(f1))
				rep_target_add_release(t, f1, f2);
		} else if (strcmp(line, "locked") == 0) {
			snprintf(t->lock, sizeof t->lock, "%s", f1);
		} else if (strcmp(line, "holder") == 0) {
			rep_lock_holder(f1, t->holder, sizeof t->holder);
		} else if (strcmp(line, "stale-holder") == 0) {
			rep_lock_holder(f1, t->stale, sizeof t->stale);
		} else if (strcmp(line, "stale") == 0) {
			char who[600];
			rep_lock_holder(f1, who, sizeof who);
			rep_target_error(t, "breaking a stale lock: held by %s, which is gone", who);
		}
	}
}

/* Takes the lock with a session that holds it for as long as its stdin
 * stays open, and drops it when we close that or die; REP_LOCK_READ only
 * reads the state (rep-push -n). */
int rep_ssh_lock(struct rep_target *t, enum rep_lock how)
{
	char now[32], *body;

	if (how == REP_LOCK_READ) {
		if (ssh_run(t, -1, "state", NULL, 0, &body) < 0)
			return -1;
		parse_listing(t, body);
		free(body);
		return 0;
	}
	const char *args[] = { rep_pusher(), rep_now(now), how == REP_LOCK_PUSH ? "make" : "" };
	struct ssh_proc p;
	ssh_start(t, -1, &p, "lock", args, 3);
	char *out = read_reply(p.out, 1);
	size_t n = strlen(out);
	char *last = out + n - (n && out[n - 1] == '\n');
	while (last > out && last[-1] != '\n')
		last--;
	if (strncmp(last, "ok\n", 3) == 0) {
		*last = 0;
		parse_listing(t, out);
		free(out);
		t->keeper = p.pid;
		t->keeper_in = p.in;
		t->keeper_out = p.out;
		t->keeper_err = p.err;
		return 0;
	}
	close(p.in);
	if (strncmp(last, "busy\t", 5) == 0) {
		char who[600];
		last[strcspn(last, "\n")] = 0;
		rep_lock_holder(last + 5, who, sizeof who);
		rep_target_error(t, "locked by %s", who);
		free(out);
		close(p.out);
		wait_for(p.pid);
		close(p.err);
		return -1;
	}
	char *rest = read_reply(p.out, 0);
	free(rest);
	close(p.out);
	return finish(t, &p, out, wait_for(p.pid), NULL);
}

void rep_ssh_unlock(struct rep_target *t)
{
	if (t->keeper < 0)
		return;
	close(t->keeper_in);
	free(read_reply(t->keeper_out, 0));
	close(t->keeper_out);
	wait_for(t->keeper);
	close(t->keeper_err);
	t->keeper = -1;
}

/* One command to the session holding the lock, with size bytes of fd
 * after it (a staged archive), and its reply: 0 on "ok", with the lines
 * before it in *body (if body); else -1, the reason told. Also run by a
 * staging process, which inherited the session's pipes. */
static int keeper_call(struct rep_target *t, const char *line, int fd, off_t size, char **body)
{
	char buf[256 * 1024];
	size_t n = strlen(line);
	int ok = t->keeper > 0 && rep_write_full(t->keeper_in, line, n) == 0 &&
	    rep_write_full(t->keeper_in, "\n", 1) == 0;

	while (ok && size > 0) {
		ssize_t r = read(fd, buf, size < (off_t)sizeof buf ? (size_t)size : sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			rep_die("%s: %s", line, r < 0 ? strerror(errno) : "shorter than it was");
		ok = rep_write_full(t->keeper_in, buf, (size_t)r) == 0;
		size -= r;
	}
	char *out = ok ? read_reply(t->keeper_out, 1) : rep_xstrdup("");
	size_t len = strlen(out);
	char *last = out + len - (len && out[len - 1] == '\n');
	while (last > out && last[-1] != '\n')
		last--;
	if (strcmp(last, "ok\n") == 0) {
		*last = 0;
		if (body)
			*body = out;
		else
			free(out);
		return 0;
	}
	if (strncmp(last, "error\t", 6) == 0) {
		last[strcspn(last, "\n")] = 0;
		rep_target_error(t, "%s", last + 6);
	} else {
		ssh_failure(t, t->keeper_err, 0);
		rep_target_error(t, "the connection holding the lock is gone");
	}
	free(out);
	return -1;
}

int rep_ssh_stage(struct rep_target *t, const char *archive, const char *stem,
    const struct rep_manifest *m)
{
	char line[512];
	struct stat st;
	int fd = open(archive, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		rep_die_errno("%s", archive);
	snprintf(line, sizeof line, "stage %s %s %lld %s %lld", stem, m->sha256,
	    (long long)st.st_size, m->manifest_sha256, (long long)m->files);
	int rc = keeper_call(t, line, fd, st.st_size, NULL);
	close(fd);
	return rc;
}

int rep_ssh_switch(struct rep_target *t, const char *to)
{
	char line[REP_NAME_MAX * 2 + 16];

	snprintf(line, sizeof line, "switch %s %s", *to ? to : "-", *t->current ? t->current : "-");
	return keeper_call(t, line, -1, 0, NULL);
}

int rep_ssh_prune(struct rep_target *t, char **names, size_t n)
{
	char *line;
	size_t len;
	FILE *f = open_memstream(&line, &len);

	if (!f)
		rep_die("out of memory");
	fputs("prune", f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, " %s", names[i]);
	if (fclose(f) != 0)
		rep_die("out of memory");
	int rc = keeper_call(t, line, -1, 0, NULL);
	free(line);
	return rc;
}

/* A release's MANIFEST, sent back with every line after a '|'. */
char *rep_ssh_manifest(struct rep_target *t, const char *release)
{
	char line[REP_NAME_MAX + 16], *body;

	snprintf(line, sizeof line, "manifest %s", release);
	if (keeper_call(t, line, -1, 0, &body) < 0)
		return NULL;
	char *w = body;
	for (char *r = body; *r;) {
		size_t n = strcspn(r, "\n");
		if (*r == '|')
			memmove(w, r + 1, n - 1), w += n - 1;
		r += n;
		if (*r == '\n')
			*w++ = *r++;
	}
	*w = 0;
	return body;
}
