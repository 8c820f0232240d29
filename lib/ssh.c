/* Targets on [user@]host:DIR, over $REP_SSH. The far side runs one POSIX
 * sh program (lib/far.sh, which tells the protocol) and needs nothing of
 * rep. Every word that reaches the remote shell goes through
 * shell_quote(). One session per target for the whole run: the one that
 * holds the lock also runs every later step, so a remote login (and its
 * shell's start-up files) happens once, and the lock goes when the
 * session does, however rep-push ends. The hooks run there too, by that
 * session (far.sh: hook), as the login. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "transport.h"

/* One run of the far side: ssh's pid, the pipe to its stdin, its
 * replies, and its stderr (an unlinked file, read for why it failed). */
struct session {
	pid_t pid;         /* -1: none */
	int in, err;
	int dead;          /* out of step or gone: nothing more is sent */
	struct rep_frame out;
};

struct ssh {
	char *user, *host, *dir;
	struct session keeper;  /* the one holding the lock, or -n's */
	int begun;              /* keeper started (ssh_begin), its reply not read */
	struct rep_cleanup undo;
	struct rep_strset stored; /* the entries of store/ the listing named */
};

/* --- the operand ------------------------------------------------------- */

/* Host names and users reach ssh's command line and the remote shell:
 * only the bytes a host name or login can hold. */
static int plain_word(const char *s, const char *extra)
{
	for (const char *c = s; *c; c++)
		if (!(*c >= 'a' && *c <= 'z') && !(*c >= 'A' && *c <= 'Z') &&
		    !(*c >= '0' && *c <= '9') && !strchr(extra, *c))
			return 0;
	return 1;
}

/* [2001:db8::1] or [fe80::1%eth0]: hex digits, ':' and '.', a zone. */
static int ipv6(const char *s)
{
	size_t n = strspn(s, "0123456789abcdefABCDEF:.");

	return strchr(s, ':') && (s[n] == 0 || (s[n] == '%' && s[n + 1] && plain_word(s + n + 1, "._-")));
}

static char *parse_user(const char *arg, const char *host)
{
	char *user = rep_xstrdup(arg);

	user[host - 1 - arg] = 0;
	if (!*user)
		rep_die("%s: empty user name", arg);
	if (user[0] == '-')
		rep_die("%s: a user name beginning with '-'", arg);
	if (!plain_word(user, "._-"))
		rep_die("%s: a user name with characters other than letters, digits, '.', '_' and '-'", arg);
	return user;
}

static char *parse_host(const char *arg, const char *host, const char *colon)
{
	char *h = rep_xstrdup(host);
	size_t n = (size_t)(colon - host);

	h[n] = 0;
	if (!*h)
		rep_die("%s: empty host name", arg);
	if (h[0] == '-')
		rep_die("%s: a host name beginning with '-'", arg);
	if (h[0] != '[') {
		if (!plain_word(h, ".-_"))
			rep_die("%s: a host name with characters other than letters, digits, '.', '-' and '_'", arg);
		return h;
	}
	if (n < 3 || h[n - 1] != ']')
		rep_die("%s: not an IPv6 address between [ and ]", arg);
	h[n - 1] = 0;
	memmove(h, h + 1, n - 1);
	if (!ipv6(h))
		rep_die("%s: not an IPv6 address between [ and ]", arg);
	return h;
}

/* $REP_SSH split into words like a shell would, as rsync splits
 * $RSYNC_RSH: blanks separate, '...' and "..." quote, \ escapes. Split
 * when the first ssh target is parsed, so that a bad one fails before
 * anything. */
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

/* TARGET is [user@]host:DIR when a ':' comes before any '/' (as with
 * scp and rsync; ./a:b is a local directory named a:b). Anything
 * doubtful is refused before any connection, and so is a bad $REP_SSH. */
static int ssh_parse(struct rep_target *t, const char *arg)
{
	size_t slash = strcspn(arg, "/"), at = strcspn(arg, "@"), nw;
	const char *host = at < slash && at < strcspn(arg, ":") ? arg + at + 1 : arg;
	const char *colon = host[0] == '[' && strstr(host, "]:") ? strstr(host, "]:") + 1 : strchr(host, ':');

	if (!colon || (size_t)(colon - arg) > slash)
		return 0;
	struct ssh *s = rep_xmalloc(sizeof *s);
	memset(s, 0, sizeof *s);
	s->keeper.pid = -1;
	s->user = host != arg ? parse_user(arg, host) : NULL;
	s->host = parse_host(arg, host, colon);
	s->dir = rep_xstrdup(colon + 1);
	if (s->dir[0] != '/')
		rep_die("%s: a remote directory must be an absolute path", arg);
	ssh_words(&nw);
	t->priv = s;
	return 1;
}

/* ssh:user@host:DIR, the host in lower case and DIR without repeated or
 * trailing slashes: two spellings of one place are caught, not aliases. */
static void ssh_identity(const struct rep_target *t, char *buf, size_t size)
{
	const struct ssh *s = t->priv;
	int n = snprintf(buf, size, "ssh:%s%s", s->user ? s->user : "", s->user ? "@" : "");
	size_t w = n < 0 ? 0 : (size_t)n;

	for (const char *c = s->host; *c && w + 1 < size; c++)
		buf[w++] = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
	if (w + 1 < size)
		buf[w++] = ':';
	for (const char *c = s->dir; *c && w + 1 < size; c++)
		if (!(*c == '/' && (c[1] == '/' || (c[1] == 0 && c != s->dir))))
			buf[w++] = *c;
	buf[w < size ? w : size - 1] = 0;
}

/* --- starting the far side ----------------------------------------------- */

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

static int tmp_file(void)
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

/* sh -c SCRIPT rep-push OP DIR ARGS..., each word quoted; malloc'd. */
static char *remote_command(const struct ssh *s, const char *op, const char *const *args, size_t nargs)
{
	char *cmd;
	size_t len;
	FILE *f = open_memstream(&cmd, &len);

	if (!f)
		rep_die("out of memory");
	fputs("sh -c ", f);
	shell_quote(f, rep_far_script);
	fputs(" rep-push ", f);
	shell_quote(f, op);
	fputc(' ', f);
	shell_quote(f, s->dir);
	for (size_t i = 0; i < nargs; i++) {
		fputc(' ', f);
		shell_quote(f, args[i]);
	}
	if (fclose(f) != 0)
		rep_die("out of memory");
	return cmd;
}

/* Starts the far side's OP on the host; its stdin is a pipe of ours
 * (s->in) when with_input, else /dev/null. */
static void session_start(const struct rep_target *t, struct session *p, const char *op,
    const char *const *args, size_t nargs, int with_input)
{
	const struct ssh *s = t->priv;
	size_t nw, n = 0;
	char **w = ssh_words(&nw), dest[600];
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
	snprintf(dest, sizeof dest, "%s%s%s", s->user ? s->user : "", s->user ? "@" : "", s->host);
	argv[n++] = dest;
	char *cmd = remote_command(s, op, args, nargs);
	argv[n++] = cmd;
	argv[n] = NULL;
	if (pipe2(outp, O_CLOEXEC) < 0)
		rep_die_errno("pipe");
	if (with_input ? pipe2(inp, O_CLOEXEC) < 0 : (inp[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		rep_die_errno("%s", with_input ? "pipe" : "/dev/null");
	p->err = tmp_file();
	/* ssh goes when rep-push goes, even by SIGKILL: its session ends,
	 * and the far side drops the lock */
	p->pid = rep_child_spawn(argv, inp[0], outp[1], p->err, SIGTERM);
	close(outp[1]);
	close(inp[0]);
	p->in = with_input ? inp[1] : -1;
	p->dead = 0;
	p->out.fd = outp[0];
	p->out.timeout = t->timeout;
	p->out.off = p->out.len = 0;
	free(cmd);
	free(argv);
}

/* Reads what p still says and drops it, until EOF: 0, or -1 when it
 * stayed silent for the idle timeout. */
static int drain(struct session *p)
{
	char buf[4096];

	for (;;) {
		struct pollfd pfd = { .fd = p->out.fd, .events = POLLIN };
		int ready = poll(&pfd, 1, rep_frame_seconds(p->out.timeout) * 1000);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0)
			return -1;
		ssize_t n = read(p->out.fd, buf, sizeof buf);
		if (n == 0 || (n < 0 && errno != EINTR))
			return 0;
	}
}

/* Ends a session: its stdin closed (the far side then drops the lock),
 * what it still says dropped, ssh reaped (killed if it stays silent);
 * ssh's wait status. */
static int session_end(struct session *p)
{
	if (p->pid < 0)
		return -1;
	if (p->in >= 0)
		close(p->in);
	if (drain(p) < 0)
		kill(p->pid, SIGTERM);
	int status = rep_child_wait(p->pid);
	close(p->out.fd);
	close(p->err);
	p->pid = -1;
	p->in = -1;
	return status;
}

/* On rep_die() or a signal: no waiting for the far side, and no kill
 * either (a staging process may still be feeding it, and would take a
 * lost connection for a failure of its own): the session's stdin is
 * closed, and ssh gets its death signal when rep-push is gone. The far
 * side, cut off, drops the lock and its temporaries itself. */
static void undo_session(void *arg)
{
	struct session *p = arg;

	if (p->in >= 0)
		close(p->in);
}

/* --- replies ---------------------------------------------------------------- */

/* The far side's message lines, one message each, control bytes shown. */
static void tell(const struct rep_target *t, const char *text)
{
	for (const char *line = text; line && *line;) {
		size_t n = strcspn(line, "\n");
		char *v = rep_visible(line, n);
		rep_error_at(t->arg, "%s", v);
		free(v);
		line += n + (line[n] == '\n');
	}
}

/* The last line ssh (or the far side) wrote to its stderr, or "". */
static void last_words(int err, char *buf, size_t size)
{
	struct stat st;
	off_t from = fstat(err, &st) == 0 && st.st_size > (off_t)size - 1 ? st.st_size - (off_t)size + 1 : 0;
	ssize_t n = pread(err, buf, size - 1, from);
	char *line;

	buf[n > 0 ? n : 0] = 0;
	while ((line = strrchr(buf, '\n')) && line[1] == 0)
		*line = 0;
	line = strrchr(buf, '\n') ? strrchr(buf, '\n') + 1 : buf;
	memmove(buf, line, strlen(line) + 1);
	buf[strcspn(buf, "\r")] = 0;
}

/* Why no whole reply came on p: told, and p is of no more use. Out of
 * step (silent, or talking nonsense), its ssh is ended, and with it the
 * far side and its lock. A session that ends before its first reply is
 * ssh failing: its last words, else its status; one that ends later
 * took the lock with it. */
static void reply_lost(const struct rep_target *t, struct session *p, int rc, const struct rep_reply *r,
    int first)
{
	char why[512];

	p->dead = 1;
	if (rc == REP_FRAME_TIMEOUT || rc == REP_FRAME_BAD)
		kill(p->pid, SIGTERM);
	if (rc == REP_FRAME_TIMEOUT) {
		rep_error_at(t->arg, "no reply for %d seconds: giving up (see --timeout)",
		    rep_frame_seconds(t->timeout));
		return;
	}
	if (rc == REP_FRAME_BAD) {
		rep_error_at(t->arg, "protocol error: the far side sent '%s'%s", r->bad,
		    first ? " (do the login shell's start-up files print anything?)" : "");
		return;
	}
	last_words(p->err, why, sizeof why);
	char *v = rep_visible(why, strlen(why));
	if (*v)
		rep_error_at(t->arg, "%s", v);
	free(v);
	if (!first)
		rep_error_at(t->arg, "the connection holding the lock is gone");
	if (!first || *why)
		return;
	int status = session_end(p);
	if (status >= 0 && WIFSIGNALED(status))
		rep_error_at(t->arg, "ssh killed by signal %d", WTERMSIG(status));
	else
		rep_error_at(t->arg, "ssh exited with status %d", status >= 0 ? WEXITSTATUS(status) : -1);
}

/* The words a reply may end with, in the order of the answers;
 * NOT_SENT: a command that never reached the far side. */
enum { NOT_SENT = -2, DONE = 0, FAILED, UNKNOWN, BUSY };
static const char *const command_words[] = { "ok", "error", "unknown", NULL };
static const char *const lock_words[] = { "ok", "error", "unknown", "busy", NULL };

/* One reply on p into r: its final word's index in words (NULL
 * terminated), its messages told. -1 when none came whole or its word is
 * not one of words: the reason told, p of no more use. */
static int reply_read(const struct rep_target *t, struct session *p, struct rep_reply *r,
    const char *const *words, int first)
{
	int rc = rep_frame_read(&p->out, r);

	if (rc < 0) {
		reply_lost(t, p, rc, r, first);
		return -1;
	}
	tell(t, r->text);
	for (int i = 0; words[i]; i++)
		if (strcmp(r->word, words[i]) == 0) {
			if ((i == FAILED || i == UNKNOWN) && !r->text)
				rep_error_at(t->arg, "the far side failed (.%s) without saying why", r->word);
			return i;
		}
	snprintf(r->bad, sizeof r->bad, ".%s", r->word);
	reply_lost(t, p, REP_FRAME_BAD, r, 0);
	return -1;
}

/* --- the listing ------------------------------------------------------------- */

/* A holder's lock line as a message shows it; one that is not a single
 * lock line is "an unreadable lock". */
static void holder(const char *line, char *out, size_t size)
{
	char who[640];

	rep_lock_holder(line, who, sizeof who);
	char *v = rep_visible(who, strlen(who));
	snprintf(out, size, "%s", v);
	free(v);
}

/* A text the listing's records add lines to, growing by doubling. */
struct text {
	char **buf;
	size_t len, size;
};

/* A line and a newline added to t. */
static void add_line(struct text *t, const char *line)
{
	size_t n = strlen(line);

	if (t->len + n + 2 > t->size) {
		while (t->len + n + 2 > t->size)
			t->size = t->size ? 2 * t->size : 4096;
		*t->buf = rep_xrealloc(*t->buf, t->size);
	}
	memcpy(*t->buf + t->len, line, n);
	(*t->buf)[t->len + n] = '\n';
	t->len += n + 1;
	(*t->buf)[t->len] = 0;
}

/* The records of a listing: current, release, log and manifest (a line
 * of the deployment log, of the live release's MANIFEST), link, holder,
 * stale-holder, stale. Unknown kinds are skipped, for far sides newer
 * than us. A live release whose MANIFEST has no line but is there (its
 * SHA-256 listed) has an empty one. */
static void take_listing(struct rep_target *t, char *data)
{
	char *save = NULL, *line, who[640];
	struct text log = { &t->log, 0, 0 }, manifest = { &t->live_manifest, 0, 0 };

	for (line = data ? strtok_r(data, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		char *f1 = strchr(line, '\t'), *f2;
		if (!f1)
			continue;
		*f1++ = 0;
		if (strcmp(line, "log") == 0) {
			add_line(&log, f1);
		} else if (strcmp(line, "manifest") == 0) {
			add_line(&manifest, f1);
		} else if (strcmp(line, "current") == 0 && strlen(f1) <= REP_NAME_MAX &&
		    (!*f1 || rep_release_name(f1))) {
			/* a name not a release's is never taken for one, as
			 * locally */
			snprintf(t->current, sizeof t->current, "%s", f1);
		} else if (strcmp(line, "release") == 0 && (f2 = strchr(f1, '\t'))) {
			*f2++ = 0;
			if (rep_release_name(f1))
				rep_releases_put(&t->releases, f1, strlen(f2) == 64 ? f2 : "-");
		} else if (strcmp(line, "link") == 0 && (f2 = strchr(f1, '\t'))) {
			*f2++ = 0;
			if (rep_strset_find(&t->links, f1) < 0)
				rep_strset_add(&t->links, f1, rep_xstrdup(f2));
		} else if (strcmp(line, "stored") == 0) {
			struct ssh *s = t->priv;
			if (rep_release_name(f1) && rep_strset_find(&s->stored, f1) < 0)
				rep_strset_add(&s->stored, f1, NULL);
		} else if (strcmp(line, "pending") == 0) {
			rep_pending_value(f1, strlen(f1), t->pending, sizeof t->pending);
		} else if (strcmp(line, "hook") == 0 && strchr(f1, '\t')) {
			if (rep_strset_find(&t->hooks, f1) < 0)
				rep_strset_add(&t->hooks, f1, NULL);
		} else if (strcmp(line, "holder") == 0) {
			holder(f1, t->holder, sizeof t->holder);
		} else if (strcmp(line, "stale-holder") == 0) {
			holder(f1, t->stale, sizeof t->stale);
		} else if (strcmp(line, "stale") == 0) {
			holder(f1, who, sizeof who);
			rep_error_at(t->arg, "breaking a stale lock: held by %s, which is gone", who);
		}
	}
	const char *msha = *t->current ? rep_releases_get(&t->releases, t->current) : NULL;
	if (!t->live_manifest && msha && strcmp(msha, "-") != 0)
		t->live_manifest = rep_xstrdup("");
}

/* --- the operations -------------------------------------------------------- */

/* Waits for p's first reply (or its end) as reply_read would: -1 when
 * none came for the idle timeout (told, p ended), 1 when p ended before
 * it because the server reset or closed the connection during the key
 * exchange, as sshd does when more unauthenticated connections than its
 * MaxStartups arrive at once, and retry allows another try (p ended, to
 * be started again); else 0, p left as it is, its first reply (or why
 * none came) for reply_read. */
static int handshake_reset(const struct rep_target *t, struct session *p, int retry)
{
	char why[4096];
	int avail = 0;

	for (;;) {
		struct pollfd pfd = { .fd = p->out.fd, .events = POLLIN };
		int ready = poll(&pfd, 1, rep_frame_seconds(t->timeout) * 1000);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready == 0) {
			struct rep_reply none;
			memset(&none, 0, sizeof none);
			reply_lost(t, p, REP_FRAME_TIMEOUT, &none, 1);
			session_end(p);
			return -1;
		}
		if (ready < 0)
			return 0;
		break;
	}
	/* readable with nothing to read: the end of ssh's output */
	if (!retry || ioctl(p->out.fd, FIONREAD, &avail) < 0 || avail > 0)
		return 0;
	/* OpenSSH says "kex_exchange_identification: read: Connection
	 * reset by peer" (or "Connection closed by remote host"), then
	 * "Connection reset by HOST port N" */
	struct stat st;
	off_t from = fstat(p->err, &st) == 0 && st.st_size > (off_t)sizeof why - 1 ?
	    st.st_size - (off_t)sizeof why + 1 : 0;
	ssize_t n = pread(p->err, why, sizeof why - 1, from);
	why[n > 0 ? n : 0] = 0;
	if (!strstr(why, "kex_exchange_identification: "))
		return 0;
	session_end(p);
	return 1;
}

/* Sessions reset during the handshake are started again up to RETRIES
 * times, after 0.25 s, 0.5 s, 0.75 s: the server's other handshakes end. */
enum { RETRIES = 3 };

static void retry_wait(int tries)
{
	struct timespec wait = { 0, 250000000L * tries };
	while (nanosleep(&wait, &wait) < 0 && errno == EINTR)
		;
}

/* Starts a session with start(t, p, arg) until it is past the
 * handshake, started again when the server reset it (handshake_reset)
 * up to RETRIES times: 0, or -1 if it failed (the reason told). */
static int start_session(struct rep_target *t, struct session *p,
    void (*start)(struct rep_target *t, struct session *p, void *arg), void *arg)
{
	for (int tries = 1;; tries++) {
		start(t, p, arg);
		int reset = handshake_reset(t, p, tries <= RETRIES);
		if (reset <= 0)
			return reset;
		retry_wait(tries);
	}
}

/* The session open() reads: the lock's, or -n's listing. */
static void open_start(struct rep_target *t, enum rep_lock how)
{
	struct ssh *s = t->priv;
	char now[32], idle[16];

	if (how == REP_LOCK_READ) {
		session_start(t, &s->keeper, "state", NULL, 0, 0);
		return;
	}
	/* the idle timeout: the far side sends keepalives five times as
	 * often while a long step runs */
	snprintf(idle, sizeof idle, "%d", rep_frame_seconds(t->timeout));
	const char *args[] = { rep_pusher(), rep_now(now), how == REP_LOCK_PUSH ? "make" : "", idle };
	session_start(t, &s->keeper, "lock", args, 4, 1);
}

/* Connects, and asks for the lock or the listing, without waiting for
 * the answer: open() reads it, so that several targets connect and
 * lock at once. */
static void ssh_begin(struct rep_target *t, enum rep_lock how)
{
	struct ssh *s = t->priv;

	if (s->begun || s->keeper.pid >= 0)
		return;
	open_start(t, how);
	s->begun = 1;
}

/* rep-push -n: the state, the lock's holder, and no lock taken. */
static int read_state(struct rep_target *t)
{
	struct ssh *s = t->priv;
	struct rep_reply r;

	int rc = reply_read(t, &s->keeper, &r, command_words, 1);
	if (rc == DONE)
		take_listing(t, r.data);
	rep_reply_free(&r);
	session_end(&s->keeper);
	return rc == DONE ? 0 : REP_OPEN_FAILED;
}

static void start_live(struct rep_target *t, struct session *p, void *arg)
{
	(void)arg;
	session_start(t, p, "live", NULL, 0, 0);
}

/* rep-push --status: what is live, with no lock. */
static int ssh_live(struct rep_target *t)
{
	struct session p;
	struct rep_reply r;

	if (start_session(t, &p, start_live, NULL) < 0)
		return REP_OPEN_FAILED;
	int rc = reply_read(t, &p, &r, command_words, 1);
	if (rc == DONE) {
		take_listing(t, r.data);
		/* an empty MANIFEST sends no line */
		if (t->current[0] && !t->live_manifest)
			t->live_manifest = rep_xstrdup("");
	}
	rep_reply_free(&r);
	session_end(&p);
	return rc == DONE ? 0 : REP_OPEN_FAILED;
}

/* The lock's or the listing's session, unless begin() started it. */
static void start_open(struct rep_target *t, struct session *p, void *arg)
{
	struct ssh *s = t->priv;

	(void)p;
	if (!s->begun)
		open_start(t, *(enum rep_lock *)arg);
	s->begun = 0;
}

/* Takes the lock with a session that holds it for as long as its stdin
 * stays open, and drops it when we close that or die. The listing
 * brings the log and the live MANIFEST along (take_listing). */
static int ssh_open(struct rep_target *t, enum rep_lock how)
{
	struct ssh *s = t->priv;
	struct session *p = &s->keeper;
	struct rep_reply r;

	if (start_session(t, p, start_open, &how) < 0)
		return REP_OPEN_FAILED;
	if (how == REP_LOCK_READ)
		return read_state(t);
	int rc = reply_read(t, p, &r, lock_words, 1);
	if (rc == DONE) {
		take_listing(t, r.data);
		rep_cleanup_add(&s->undo, undo_session, p);
	} else if (rc == BUSY) {
		char *tab = r.data ? strchr(r.data, '\t') : NULL;
		if (tab)
			tab[strcspn(tab, "\n")] = 0;
		holder(tab ? tab + 1 : "", t->holder, sizeof t->holder);
		rep_error_at(t->arg, "locked by %s", t->holder);
	}
	rep_reply_free(&r);
	if (rc != DONE)
		session_end(p);
	return rc == DONE ? 0 : rc == BUSY ? REP_OPEN_BUSY : REP_OPEN_FAILED;
}

/* Sends size bytes of the file fd after a command line (a staged
 * archive). A file that shrinks ends the staging process, and the
 * session with it, which now waits for bytes that will not come. */
static int send_archive(const struct rep_target *t, struct session *p, int fd, off_t size,
    const char *path, volatile long long *sent)
{
	static char buf[256 * 1024];

	while (size > 0) {
		ssize_t r = read(fd, buf, size < (off_t)sizeof buf ? (size_t)size : sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			kill(p->pid, SIGTERM);
			rep_die("%s: %s while it was sent", path, r < 0 ? strerror(errno) : "shorter");
		}
		if (rep_frame_send(p->in, buf, (size_t)r, t->timeout) < 0)
			return -1;
		size -= r;
		if (sent)
			*sent += r;
	}
	return 0;
}

/* What follows a command line: for a staging, the release's MANIFEST
 * (text), then size bytes of the archive (fd, path); fd -1: nothing. */
struct payload {
	const char *text;
	size_t len;
	const char *path;
	int fd;
	off_t size;
	volatile long long *sent;     /* counted here, as it goes (NULL: not) */
};

/* Sends a command line, and its payload after it (if any): 0, or
 * NOT_SENT when not even the line went (a line is one atomic write),
 * else -1; the reason told. */
static int send_command(const struct rep_target *t, struct session *p, const char *line,
    const struct payload *pl)
{
	if (p->pid < 0 || p->dead) {
		rep_error_at(t->arg, "the connection holding the lock is gone");
		return NOT_SENT;
	}
	int sent = rep_frame_send(p->in, line, strlen(line), t->timeout) == 0;
	if (sent && (!pl || ((pl->len == 0 || rep_frame_send(p->in, pl->text, pl->len, t->timeout) == 0) &&
	    send_archive(t, p, pl->fd, pl->size, pl->path, pl->sent) == 0)))
		return 0;
	if (errno != ETIMEDOUT) {
		reply_lost(t, p, REP_FRAME_EOF, NULL, 0);
		return sent ? -1 : NOT_SENT;
	}
	p->dead = 1;
	kill(p->pid, SIGTERM);
	rep_error_at(t->arg, "the far side stopped reading for %d seconds: giving up (see --timeout)",
	    rep_frame_seconds(t->timeout));
	return sent ? -1 : NOT_SENT;
}

/* One command (a line ending in a newline) to the session holding the
 * lock, with its payload after it for a staging (NULL: none): its
 * answer (DONE, FAILED, UNKNOWN) with the reply in r, or NOT_SENT, or -1
 * when no reply came; the reason told. A session that fails is of no
 * more use: the lock went with it. Also run in a staging process, which
 * inherited the session. */
static int call(const struct rep_target *t, const char *line, const struct payload *pl,
    struct rep_reply *r)
{
	struct ssh *s = t->priv;
	int rc = send_command(t, &s->keeper, line, pl);

	memset(r, 0, sizeof *r);
	return rc < 0 ? rc : reply_read(t, &s->keeper, r, command_words, 0);
}

/* releases/RELEASE/MANIFEST, or with where " store", store/RELEASE's,
 * as the far side reads it; NULL (the reason told) if it cannot. */
static char *manifest_of(const struct rep_target *t, const char *release, const char *where)
{
	char line[REP_NAME_MAX + 32];
	struct rep_reply r;

	snprintf(line, sizeof line, "manifest %s%s\n", release, where);
	if (call(t, line, NULL, &r) != DONE) {
		rep_reply_free(&r);
		return NULL;
	}
	char *text = r.data ? r.data : rep_xstrdup("");
	free(r.text);
	return text;
}

/* Two rows of one application that make the same tree: the same
 * content, and as many directories, counted in both. */
static int same_row(const struct rep_manifest_app *a, const struct rep_manifest_app *b)
{
	return rep_release_same_app(a, b) && a->dirs >= 0 && a->dirs == b->dirs;
}

/* What of the archive m the target lacks: send[i] set for each
 * application m adds that the base release, on which c is composed
 * (the live one: t->live_manifest), does not hold as m lists it, with
 * as many directories; the number of them. */
static size_t lacking(const struct rep_target *t, const struct rep_manifest *m, unsigned char *send)
{
	struct rep_manifest base = { .release = 1 };
	size_t n = 0;
	char *copy = rep_xstrdup(t->live_manifest);

	rep_manifest_parse(t->arg, copy, &base);
	free(copy);
	for (size_t i = 0; i < m->apps.n; i++) {
		const struct rep_manifest_app *a = m->apps.val[i];
		long k = rep_strset_find(&base.apps, a->app.name);
		const struct rep_manifest_app *b = k >= 0 ? base.apps.val[k] : NULL;
		send[i] = !a->remove && (!b || !same_row(a, b));
		n += send[i];
	}
	rep_manifest_free(&base);
	return n;
}

/* store/RELEASE is on the target, and no release of that name: what an
 * earlier push of this archive left there. Where a release links into
 * it, a staging keeps it (one archive's), so what is sent must be what
 * it holds: the applications its MANIFEST lists, if they are the
 * archive's own rows and hold every one the target lacks (send, made
 * what to send): 0. Else -1: the whole archive, which the far side
 * puts in its place if no release links into it, and refuses if one
 * does. */
static int as_stored(const struct rep_target *t, const char *release, const struct rep_manifest *m,
    unsigned char *send)
{
	char *text = manifest_of(t, release, " store"), sha[65], label[REP_NAME_MAX + 32];

	if (!text)
		return -1;
	rep_sha256_hex(text, strlen(text), sha);
	if (strcmp(sha, m->manifest_sha256) == 0) {
		free(text);
		return -1;
	}
	struct rep_manifest held = { .release = 0 };
	snprintf(label, sizeof label, "store/%s/MANIFEST", release);
	rep_manifest_parse(label, text, &held);
	free(text);
	int serves = 1;
	for (size_t i = 0; i < held.apps.n && serves; i++) {
		const struct rep_manifest_app *a = held.apps.val[i];
		long k = rep_strset_find(&m->apps, a->app.name);
		const struct rep_manifest_app *b = k >= 0 ? m->apps.val[k] : NULL;
		serves = a->remove || (b && same_row(a, b));
	}
	for (size_t i = 0; i < m->apps.n && serves; i++)
		serves = !send[i] || rep_strset_find(&held.apps, m->apps.v[i]) >= 0;
	for (size_t i = 0; i < m->apps.n && serves; i++) {
		long k = rep_strset_find(&held.apps, m->apps.v[i]);
		send[i] = k >= 0 && !((const struct rep_manifest_app *)held.apps.val[k])->remove;
	}
	rep_manifest_free(&held);
	return serves ? 0 : -1;
}

/* The part of the archive at path (m) that a target lacks, as an
 * archive of its own in an unnamed temporary file, checked as any
 * archive is (into part), its rows those of m: its descriptor, or -1
 * when the whole archive is to go (it lacks all of it, the archive is
 * of an earlier version, whose rows do not count directories or whose
 * members do not hold 1 MiB of tar each, or store/RELEASE holds it
 * whole). Where store/RELEASE holds part of it, that part is sent
 * (as_stored). */
static int part_of(const struct rep_target *t, const char *path, const char *release,
    const struct rep_manifest *m, const struct rep_compose *c, struct rep_manifest *part)
{
	const struct ssh *s = t->priv;
	size_t adds = 0;

	if (!c->base[0] || !t->live_manifest || m->version != 2)
		return -1;
	for (size_t i = 0; i < m->apps.n; i++)
		adds += !((const struct rep_manifest_app *)m->apps.val[i])->remove;
	unsigned char *send = rep_xmalloc(m->apps.n + 1);
	char file[64];
	int fd = -1, again;
	size_t lack = lacking(t, m, send);
	int stored = rep_strset_find(&s->stored, release) >= 0;
	if (stored && as_stored(t, release, m, send) < 0) {
		free(send);
		return -1;
	}
	if (stored || lack < adds) {
		/* the part is checked through its name in /proc (rep's check
		 * opens what it reads): without /proc, the whole archive */
		fd = tmp_file();
		snprintf(file, sizeof file, "/proc/self/fd/%d", fd);
		if ((again = open(file, O_RDONLY | O_CLOEXEC)) < 0 ||
		    rep_archive_subset(path, m, send, fd, path) < 0) {
			close(fd);
			fd = -1;
		}
		if (again >= 0)
			close(again);
	}
	free(send);
	if (fd < 0)
		return -1;
	char *shown;
	if (asprintf(&shown, "%s (the part the target lacks)", path) < 0)
		rep_die("out of memory");
	rep_archive_check_as(file, shown, part);
	free(shown);
	/* each application as checked: its row, and its entries (what the
	 * checksum leaves out: directories, times) */
	for (size_t i = 0; i < part->apps.n; i++) {
		long k = rep_strset_find(&m->apps, part->apps.v[i]);
		const struct rep_manifest_app *a = part->apps.val[i], *b = k >= 0 ? m->apps.val[k] : NULL;
		if (!b || !rep_release_same_app(a, b) || memcmp(a->entries, b->entries, sizeof a->entries) != 0)
			rep_die("%s: changed since it was checked (%s differs in the part made of it)", path,
			    part->apps.v[i]);
	}
	return fd;
}

/* stage RELEASE SHA256 SIZE MANIFEST_SHA256 FILES BASE FULLSIZE FULLSHA
 * CUTS, then the release's MANIFEST (c), then the archive, or the part
 * of it the target lacks: the far side makes store/RELEASE of what it
 * gets, and releases/RELEASE of c, taking what it was not sent from the
 * base release. CUTS: where what is sent may be cut to be unpacked by
 * several processes at once, "TAR:FROM:SKIP:TO" each (rep_cut), joined
 * by commas; "-" for none. */
static int ssh_stage(struct rep_target *t, const struct rep_stage_src *src, const char *release,
    const struct rep_manifest *m, const struct rep_compose *c)
{
	char line[1536], cuts[7 * 80 + 1] = "-";
	struct stat st;
	struct rep_reply r;
	struct rep_manifest part;
	struct rep_cut cut[7];
	const struct rep_manifest *sent = m;
	int fd = part_of(t, src->path, release, m, c, &part);

	if (fd >= 0) {
		sent = &part;
		if (fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_SET) < 0)
			rep_die_errno("temporary file");
	} else {
		/* the file checked may have been swapped for a FIFO since:
		 * refused, not waited on (another file's bytes the far side
		 * refuses by their SHA-256) */
		fd = open(src->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0 || fstat(fd, &st) < 0 || fcntl(fd, F_SETFL, 0) < 0)
			rep_die_errno("%s", src->path);
		if (!S_ISREG(st.st_mode))
			rep_die("%s: not a regular file", src->path);
	}
	if (src->total)
		*src->total = (long long)st.st_size;
	size_t ncut = rep_archive_cuts(fd, sent, cut, sizeof cut / sizeof *cut);
	for (size_t i = 0, at = 0; i < ncut; i++)
		at += (size_t)snprintf(cuts + at, sizeof cuts - at, "%s%lld:%lld:%lld:%lld", i ? "," : "",
		    (long long)cut[i].tar, (long long)cut[i].from, (long long)cut[i].skip, (long long)cut[i].to);
	snprintf(line, sizeof line, "stage %s %s %lld %s %lld %s %zu %s %s\n", release, sent->sha256,
	    (long long)st.st_size, sent->manifest_sha256, (long long)sent->files, *c->base ? c->base : "-",
	    c->len, c->sha, cuts);
	struct payload pl = { c->text, c->len, src->path, fd, st.st_size, src->sent };
	int rc = call(t, line, &pl, &r);
	close(fd);
	if (sent == &part)
		rep_manifest_free(&part);
	rep_reply_free(&r);
	return rc == DONE ? 0 : -1;
}

/* Field i (from 0) of the log line log: a word of the switch command,
 * at most 255 bytes of ! to ~ ('?' for any other), "-" if empty. */
static void log_word(FILE *f, const char *log, int i)
{
	const char *p = log;

	for (; i > 0 && p; i--)
		if ((p = strchr(p, '\t')))
			p++;
	size_t n = p ? strcspn(p, "\t") : 0;
	fputc(' ', f);
	if (n == 0)
		fputc('-', f);
	for (size_t k = 0; k < n && k < 255; k++)
		fputc(p[k] > ' ' && p[k] < 0x7f ? p[k] : '?', f);
}

/* switch TO WAS TIME EVENT USER HOST: the far side appends the log line
 * TIME EVENT TO WAS USER HOST (line: those fields, TAB-separated; TO and
 * WAS are those of the switch), then moves current; without a line,
 * switch TO WAS, no log line. A switch whose command was sent and whose
 * reply never came may have moved current: that is REP_SWITCH_UNKNOWN. */
static int ssh_switch(struct rep_target *t, const char *to, const char *log)
{
	char *line;
	size_t len;
	struct rep_reply r;
	FILE *f = open_memstream(&line, &len);

	if (!f)
		rep_die("out of memory");
	fprintf(f, "switch %s %s", *to ? to : "-", *t->current ? t->current : "-");
	if (log)
		for (int i = 0; i < 6; i++)
			if (i != 2 && i != 3)
				log_word(f, log, i);
	fputc('\n', f);
	if (fclose(f) != 0)
		rep_die("out of memory");
	int rc = call(t, line, NULL, &r);
	free(line);
	rep_reply_free(&r);
	return rc == DONE ? 0 : rc == FAILED || rc == NOT_SENT ? REP_SWITCH_FAILED : REP_SWITCH_UNKNOWN;
}

/* The releases a prune reply says are out of releases/ ("gone NAME"
 * records: renamed out of a rollback's reach, even if not all removed)
 * are gone from t->releases, even when the reply is .error because
 * another could not be renamed; on .ok rep_target_prune() drops them
 * all. */
static void take_gone(struct rep_target *t, char *data)
{
	char *save = NULL;

	for (char *line = data ? strtok_r(data, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "gone\t", 5) == 0 && rep_release_name(line + 5))
			rep_releases_put(&t->releases, line + 5, NULL);
}

/* prune NAME...: the far side removes the releases, then what of
 * store/ no release left links to (a warning, not a failure, for what
 * of it cannot be removed). */
static int ssh_prune(struct rep_target *t, char *const *names, size_t n)
{
	char *line;
	size_t len;
	struct rep_reply r;
	FILE *f = open_memstream(&line, &len);

	if (!f)
		rep_die("out of memory");
	fputs("prune", f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, " %s", names[i]);
	fputc('\n', f);
	if (fclose(f) != 0)
		rep_die("out of memory");
	int rc = call(t, line, NULL, &r);
	if (rc >= 0)
		take_gone(t, r.data);
	rep_reply_free(&r);
	free(line);
	return rc == DONE ? 0 : -1;
}

/* The far side checks the release in place (far.sh: verify): of the
 * old format as a staging checks what it unpacked; of links, its links
 * and each store/S they lead into. */
static int ssh_verify(struct rep_target *t, const char *release, const char *msha)
{
	char line[REP_NAME_MAX + 96];
	struct rep_reply r;

	if (msha && strcmp(msha, "-") != 0)
		snprintf(line, sizeof line, "verify %s %s\n", release, msha);
	else
		snprintf(line, sizeof line, "verify %s\n", release);
	int rc = call(t, line, NULL, &r);
	rep_reply_free(&r);
	return rc == DONE ? 0 : -1;
}

/* A release's MANIFEST: its lines as the far side sent them, each
 * ended by a newline (the last one too, had it none). */
static char *ssh_manifest(struct rep_target *t, const char *release)
{
	return manifest_of(t, release, "");
}

/* A word of a session command: one of a name's bytes (! to ~), or it
 * would split the line or run into the next. */
static int command_word(const struct rep_target *t, const char *w)
{
	const char *c = w;

	while (*c > ' ' && *c <= '~')
		c++;
	if (*w && !*c)
		return 1;
	char *v = rep_visible(w, strlen(w));
	rep_error_at(t->arg, "'%s': not one word of ! to ~ (refused)", v);
	free(v);
	return 0;
}

/* hook PHASE NAME RELEASE PREVIOUS CHECKSUM TIMEOUT: the session runs it
 * (far.sh: hook) and answers once it is done, with keepalives meanwhile;
 * the hook's own timeout bounds the wait, the idle timeout the silence. */
static int ssh_hook(struct rep_target *t, const struct rep_hook *h, struct rep_hook_result *res)
{
	const char *prev = h->previous && *h->previous ? h->previous : "-";
	struct rep_reply r;
	char *line;
	size_t len;

	memset(res, 0, sizeof *res);
	if (!command_word(t, h->phase) || !command_word(t, h->name) || !command_word(t, h->release) ||
	    !command_word(t, prev) || !command_word(t, h->checksum))
		return -1;
	FILE *f = open_memstream(&line, &len);
	if (!f)
		rep_die("out of memory");
	fprintf(f, "hook %s %s %s %s %s %d\n", h->phase, h->name, h->release, prev, h->checksum,
	    h->timeout > 0 ? h->timeout : 1);
	if (fclose(f) != 0)
		rep_die("out of memory");
	int rc = call(t, line, NULL, &r);
	free(line);
	if (rc == DONE && rep_hook_reply(t, &r, res) < 0)
		rc = FAILED;
	rep_reply_free(&r);
	return rc == DONE ? 0 : -1;
}

/* pending [set RELEASE | clear]: the hooks-pending mark before (a
 * pending record), then changed. */
static int ssh_pending(struct rep_target *t, const char *set, char *was, size_t size)
{
	char line[REP_NAME_MAX + 32];
	struct rep_reply r;

	if (size)
		was[0] = 0;
	if (set && *set && !command_word(t, set))
		return -1;
	if (!set)
		snprintf(line, sizeof line, "pending\n");
	else if (!*set)
		snprintf(line, sizeof line, "pending clear\n");
	else
		snprintf(line, sizeof line, "pending set %s\n", set);
	int rc = call(t, line, NULL, &r);
	if (rc == DONE)
		rep_pending_reply(&r, was, size);
	rep_reply_free(&r);
	return rc == DONE ? 0 : -1;
}

static void ssh_close(struct rep_target *t)
{
	struct ssh *s = t->priv;

	if (!s)
		return;
	if (s->keeper.pid >= 0) {
		rep_cleanup_remove(&s->undo);
		session_end(&s->keeper);
	}
	free(s->user);
	free(s->host);
	free(s->dir);
	rep_strset_free(&s->stored);
	free(s);
	t->priv = NULL;
}

const struct rep_transport rep_ssh_transport = {
	.kind = "ssh", .parse = ssh_parse, .identity = ssh_identity, .begin = ssh_begin, .open = ssh_open,
	.live = ssh_live,
	.stage = ssh_stage, .shares_feed = 0, .uploads = 1, .switch_to = ssh_switch,
	.prune = ssh_prune, .verify = ssh_verify, .hook = ssh_hook, .pending = ssh_pending,
	.manifest = ssh_manifest, .close = ssh_close,
};
