/* rep: the shared library of the rep tools. One header, a section per file. */
#ifndef REP_H
#define REP_H

#include <errno.h>
#include <getopt.h>
#include <nettle/sha2.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#define REP_LINE_MAX 65536
/* bytes of a note (-m, -M, a record's reason), well within a line of
 * the history (rep-ls --history) with every other field beside it */
#define REP_NOTE_MAX 4096
#define REP_NAME_MAX 128

/* err.c: messages, exit policy, memory */
extern const char *rep_prog;
void rep_init(const char *argv0);
_Noreturn void rep_die_why(const char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define rep_die(...) rep_die_why(NULL, __VA_ARGS__)
const char *rep_dying_message(void);
void rep_reason_text(char *dst, size_t size, const char *msg);
#define rep_die_errno(...) rep_die_why(strerror(errno), __VA_ARGS__)
_Noreturn void rep_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rep_on_usage_error(void (*fn)(void));
int rep_finish(void);
void *rep_xmalloc(size_t n);
void *rep_xrealloc(void *p, size_t n);
char *rep_xstrdup(const char *s);
int rep_stderr_tty(void);
/* progress.c: the progress line of long work, on a terminal (not
 * TERM=dumb, not -q); drawn at most ten times a second */
struct rep_progress {
	const char *what;
	double start, last;
	int drawn;
};
int rep_progress_wanted(void);
void rep_progress_begin(struct rep_progress *p, const char *what);
void rep_progress_draw(struct rep_progress *p, long long done, long long total, const char *unit,
    long long bytes, long long total_bytes);
void rep_progress_end(struct rep_progress *p);
int rep_progress_shown(void);
int rep_stdin_piped(void);
void rep_msg_context(const char *ctx);
void rep_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* a run's one-line summary, unless -q: "prog: [dry run: ]..." */
void rep_summary(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int rep_write_full(int fd, const void *buf, size_t n);
void rep_vline(const char *ctx, const char *fmt, va_list ap, const char *tail)
	__attribute__((format(printf, 2, 0)));
void rep_error_at(const char *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *rep_visible(const char *s, size_t n);
#ifdef REP_FUZZ
#include <setjmp.h>
extern jmp_buf *rep_fuzz_jmp;  /* rep_die() longjmps there if set */
#endif

/* opt.c: the options every tool shares */
struct rep_opts {
	const char *db;     /* as configured, for messages */
	const char *apps;
	char *db_path;      /* resolved once, at start */
	char *apps_path;
	int quiet, header, dry_run;
};
extern struct rep_opts rep_opt;
enum { REP_OPT_DB = 0x100, REP_OPT_APPS, REP_OPT_TOOL };
/* A tool's options, in the order --help lists them: val is what
 * rep_getopt returns (a letter is the short option too), name the long
 * option, arg the argument's name (NULL: none), help the text (a line
 * break goes on at the column of the text). */
struct rep_optdef {
	int val;
	const char *name, *arg, *help;
};
struct rep_tool {
	const char *synopsis;        /* the usage lines and what the tool does */
	const struct rep_optdef *opts; /* its own, ending with {0} */
	int files;                   /* it takes --db and --apps */
	int names_from_stdin;        /* it reads names from stdin when given none */
};
/* Options several tools share. */
#define REP_OPTDEF_DRY_RUN {'n', "dry-run", NULL, "report what would be done, change nothing"}
#define REP_OPTDEF_QUIET {'q', "quiet", NULL, "no summary on stderr"}
#define REP_OPTDEF_HEADER {'H', "header", NULL, "print a header line first"}
/* -n, -q and -H: a tool that changes the database and echoes the records */
#define REP_OPTDEF_WRITER REP_OPTDEF_DRY_RUN, REP_OPTDEF_QUIET, REP_OPTDEF_HEADER
int rep_getopt(int argc, char **argv, const struct rep_tool *tool);
int rep_opt_scan(int argc, char **argv, const struct rep_tool *tool,
    void (*fn)(int val, const char *arg, void *ctx), void *ctx);
void rep_opt_finish(void);
int rep_opt_enter(const char **failed);
int rep_opt_moved(void);
long rep_opt_number(const char *opt, const char *s, long lo, long hi);
char *rep_now(char buf[32]);
const char *rep_user(void);

/* rec.c: TSV records in and out */
struct rep_rec {
	char **f;
	int nf;
	const char *src;      /* "stdin" or "argument" */
	unsigned long line;
};
struct rep_reader {
	FILE *fp;
	const char *label;
	unsigned long line;
	char *buf;
	char **f;
	int fcap;
};
void rep_reader_open(struct rep_reader *r, FILE *fp, const char *label);
int rep_read_rec(struct rep_reader *r, struct rep_rec *rec);
void rep_reader_close(struct rep_reader *r);
typedef void (*rep_rec_fn)(struct rep_rec *rec, void *arg);
void rep_each_input(int argc, char **argv, rep_rec_fn fn, void *arg);
void rep_put_fields(FILE *fp, const char *const *f, int n);
char *rep_join_rest(const struct rep_rec *rec);
_Noreturn void rep_die_rec(const struct rep_rec *rec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *rep_note_error(const char *s);
size_t rep_utf8_char(const unsigned char *p, unsigned *cp);
int rep_control_char(unsigned cp);
const char *rep_note_check(const char *s);
void rep_note_clip(char *s);
void rep_put_u64(uint64_t v, char *buf);

/* name.c: application names and statuses */
int rep_name_valid(const char *s);
int rep_sum_valid(const char *s);
void rep_name_check(const char *s, const struct rep_rec *where);
int rep_status_valid(const char *s);
void rep_status_check(const char *s);
extern const char *const rep_statuses[];

/* strset.c: a set of names that keeps first-seen order */
struct rep_strset {
	char **v;        /* in insertion order */
	void **val;
	size_t *hash;    /* of each string, as v */
	size_t n, cap;
	size_t *slot;    /* open addressing: index+1 into v, 0 = empty */
	size_t nslot;
};
int rep_strset_add(struct rep_strset *s, const char *str, void *val);
long rep_strset_find(const struct rep_strset *s, const char *str);
/* NAME operands into names, "-" reading names from stdin in place;
 * returns whether there were operands (then none read means none) */
int rep_names_read(int argc, char **argv, struct rep_strset *names);
char **rep_strset_sorted(const struct rep_strset *s);
void rep_strset_free(struct rep_strset *s);

/* db.c: the metadata database; all SQL lives here */
struct rep_db;
struct rep_app {
	int64_t id;
	char name[REP_NAME_MAX + 1];
	char status[32];
	int64_t files, bytes;
	char checksum[65];
	char registered[32], updated[32];
};
struct rep_event {
	const char *name, *time, *from, *to, *user, *note, *app_status;
	int64_t app_id;
};
enum rep_open { REP_RO, REP_RW, REP_RW_CREATE };
struct rep_db *rep_db_open(enum rep_open how);
struct rep_db *rep_db_open_maybe(void);
void rep_db_close(struct rep_db *db);
void rep_db_begin(struct rep_db *db);
void rep_db_commit(struct rep_db *db);
int rep_db_is_new(const struct rep_db *db);
int rep_db_app_get(struct rep_db *db, const char *name, struct rep_app *a);
void rep_db_app_insert(struct rep_db *db, struct rep_app *a);
void rep_db_app_update_sum(struct rep_db *db, const struct rep_app *a);
void rep_db_app_set_status(struct rep_db *db, int64_t app_id, const char *status, const char *time);
/* deployment rows: what is live on which target (rep-setstatus --record) */
typedef int (*rep_deployment_fn)(const char *target, const char *checksum, const char *release, void *arg);
void rep_db_each_deployment(struct rep_db *db, int64_t app_id, rep_deployment_fn fn, void *arg);
void rep_db_deployment_put(struct rep_db *db, int64_t app_id, const char *target,
    const char *checksum, const char *release, const char *time);
void rep_db_deployment_del(struct rep_db *db, int64_t app_id, const char *target);
struct rep_set {
	const char *status, *from, *note, *time;
	char **names, **notes;   /* notes: per name (-M), or NULL */
	size_t n;
};
size_t rep_db_set_status(struct rep_db *db, const struct rep_set *set, FILE *out);
void rep_db_event(struct rep_db *db, int64_t app_id, const char *time, const char *from, const char *to, const char *note);
typedef int (*rep_app_fn)(const struct rep_app *a, void *arg);
void rep_db_each_app(struct rep_db *db, rep_app_fn fn, void *arg);       /* by name */
void rep_db_each_app_by_id(struct rep_db *db, rep_app_fn fn, void *arg); /* by id */
typedef int (*rep_event_fn)(const struct rep_event *e, void *arg);
void rep_db_each_event(struct rep_db *db, rep_event_fn fn, void *arg);
struct rep_hash_job;
void rep_db_cache_load(struct rep_db *db, struct rep_hash_job *jobs, size_t n);
void rep_db_cache_store(struct rep_db *db, const struct rep_hash_job *job, int is_new);
int rep_db_readonly(const struct rep_db *db);

/* app.c: the application and history records */
#define REP_APP_NFIELDS 7       /* the default output */
#define REP_APP_NFIELDS_ALL 10  /* and -o's live, release, targets */
#define REP_EVENT_NFIELDS 6
extern const char *const rep_app_fields[];
extern const char *const rep_event_fields[];
#define REP_MANIFEST_NFIELDS 4
extern const int rep_manifest_fields[];
int rep_fields_parse(const char *spec, const char *const *names, int nnames, int *sel);
void rep_put_header(FILE *fp, const char *const *names, const int *sel, int nsel);
void rep_put_app(FILE *fp, const struct rep_app *a, const int *sel, int nsel);
/* An application's deployment rows as rep-ls shows them: distinct
 * values sorted and joined by commas; NULL (shown as -): no row. */
struct rep_live {
	char *checksum, *release, *targets;
};
void rep_live_load(struct rep_db *db, int64_t app_id, struct rep_live *l);
void rep_live_free(struct rep_live *l);
void rep_put_app_live(FILE *fp, const struct rep_app *a, const struct rep_live *l,
    const int *sel, int nsel);
void rep_put_event(FILE *fp, const struct rep_event *e, const int *sel, int nsel);

/* tree.c: walking and hashing application trees, with the stat cache */
struct rep_sum {
	int64_t files, bytes;
	char checksum[65];
};
struct rep_fstat {
	int64_t size, mtime_ns, ctime_ns, ino, dev, mode;
	int64_t uid;           /* not part of the stat cache */
};
struct rep_cached {            /* a row of the stat cache */
	char *path;
	struct rep_fstat st;
	unsigned char digest[32];
	int64_t cached_ns;     /* written at; a file not older is re-hashed */
};
/* What an application holds that rep cannot ship, each as one line
 * "APP/PATH: why" (rep(7), APPLICATION CONTENTS): a name with a control
 * character, anything but a directory, regular file or symlink, a
 * symlink that leaves the application, what cannot be read. A tree with
 * any is listed whole all the same, so that every one is told at once. */
struct rep_problems {
	char **v;
	size_t n, cap;
};
size_t rep_problems_tell(struct rep_problems *p);
_Noreturn void rep_problems_die(size_t napps, const char *name, const char *undone);
void rep_problems_free(struct rep_problems *p);
struct rep_hash_job {
	const char *name;
	int64_t app_id;        /* 0: not registered, no cache */
	struct rep_cached *cache; /* in: rows sorted by path; out: fresh rows if dirty */
	size_t ncache;
	int dirty;             /* cache rows replaced: store them */
	struct rep_sum sum;
	struct rep_problems bad; /* out: if any, sum means nothing */
};
enum { REP_HASH_ALL = 1 };     /* trust no cache row (--rehash) */
struct rep_entry {
	char *path;            /* relative to the application directory */
	char *target;          /* of a symlink */
	char type;             /* 'f', 'x', 'l' as in the checksum lines; 'd' */
	char hit;              /* digest taken from the stat cache */
	const struct rep_cached *row; /* its clean cache row, if any */
	int err;               /* errno of a failed read */
	int64_t size;          /* bytes hashed */
	struct rep_fstat st;
	unsigned char digest[32];
};
struct rep_tree {
	struct rep_entry *e;
	size_t n;
	struct rep_problems bad;
};
void rep_tree_list(int appsfd, const char *name, struct rep_tree *out);
int rep_link_inside(const char *rel, const char *target);
void rep_tree_free(struct rep_tree *t);
struct rep_fold {
	struct sha256_ctx c;
	int64_t files, bytes;
};
void rep_fold_init(struct rep_fold *f);
void rep_fold_add(struct rep_fold *f, char type, const char *path,
    const unsigned char *digest, int64_t size);
void rep_fold_end(struct rep_fold *f, struct rep_sum *sum);
/* What rep_hash_apps calls back, each by the calling thread; calls, or
 * any of its functions, may be NULL. Jobs are hashed in batches of up
 * to REP_HASH_BATCH: load is called with each batch, in order, before
 * it is hashed (to fill in the cache rows), while earlier batches may
 * still be hashed; each with the index of every job, in order, as soon
 * as that job and all before it are done (while the other threads still
 * hash, when there are many). A job that is done holds cache rows only
 * if it is dirty. */
enum { REP_HASH_BATCH = 256 };
typedef void rep_hash_load_fn(struct rep_hash_job *jobs, size_t n, void *arg);
typedef void rep_hashed_fn(size_t i, void *arg);
struct rep_hash_calls {
	rep_hash_load_fn *load;
	rep_hashed_fn *each;
	void *arg;
};
void rep_hash_apps(int appsfd, struct rep_hash_job *jobs, size_t n, int flags,
    const struct rep_hash_calls *calls);
void rep_cache_free(struct rep_hash_job *job);
void rep_list_apps(int appsfd, struct rep_strset *valid, struct rep_strset *invalid);
int rep_open_apps(void);
int rep_app_dir_exists(int appsfd, const char *name);
const char *rep_app_dir_problem(int appsfd, const char *name);
void rep_hex(const unsigned char *d, size_t n, char *out);
void rep_sha256_hex(const void *buf, size_t n, char out[65]);
int rep_sha256_fd(int fd, char out[65]);
int rep_sha256_at(int dirfd, const char *name, char out[65]);
int rep_nthreads(void);

/* ring.c: small files opened, read and closed in batches (io_uring) */
enum { REP_RING_SLOTS = 32, REP_RING_BUF = 64 * 1024 };
struct rep_ring;
struct rep_ring *rep_ring_new(void);
void rep_ring_free(struct rep_ring *r);
int rep_ring_add(struct rep_ring *r, int dirfd, const char *name);
int rep_ring_queued(const struct rep_ring *r);
int rep_ring_close(struct rep_ring *r, int fd);
int rep_ring_run(struct rep_ring *r);
ssize_t rep_ring_got(const struct rep_ring *r, int slot);
unsigned char *rep_ring_buf(struct rep_ring *r, int slot);

/* gz.c: gzip on every core, the same bytes for any number of threads;
 * read back on every core when its members carry their sizes */
enum { REP_GZ_BLOCK = 1024 * 1024, REP_GZ_HEADER = 20,
       REP_GZ_MEMBER_MAX = REP_GZ_BLOCK + REP_GZ_BLOCK / 64 + 4096 };
long rep_gz_member_size(const unsigned char *h);
struct rep_gzin;
struct rep_gzin *rep_gzin_open(FILE *fp, const char *path, struct sha256_ctx *raw, int threads,
    int strict);
long rep_gzin_next(struct rep_gzin *g, const void **buf, char err[512]);
void rep_gzin_close(struct rep_gzin *g);
struct rep_gz;
struct rep_gz *rep_gz_open(int fd, const char *label, int level, int threads);
void rep_gz_write(struct rep_gz *g, const void *buf, size_t n);
int64_t rep_gz_close(struct rep_gz *g);

/* archive.c: rep's tar.gz, written and checked */
struct rep_tar;
struct rep_tar *rep_tar_open(int fd, const char *label, int level, int threads, int64_t clamp);
void rep_tar_dir(struct rep_tar *t, const char *path, int64_t mtime);
void rep_tar_symlink(struct rep_tar *t, const char *path, const char *target, int64_t mtime);
void rep_tar_file(struct rep_tar *t, const char *path, int exec, int64_t size, int64_t mtime);
void rep_tar_data(struct rep_tar *t, const void *buf, size_t n);
int64_t rep_tar_close(struct rep_tar *t);
/* form.c: the form of rep's tar stream, checked on its bytes before the
 * archive reader's view of them counts */
struct rep_form_entry {
	char *path, *link;         /* as its headers say; link for a symlink */
	int type;                  /* '0' file, '5' directory, '2' symlink */
	int mode;
	int64_t size, mtime;
	int64_t offset;            /* of its first header in the tar stream */
};
struct rep_form {
	int state, failed, in_pax, pax_keys;
	unsigned char block[512];
	size_t have;               /* bytes of block so far */
	int64_t pos;               /* bytes of the stream fed */
	int64_t left, pad;         /* of the data being skipped, then its padding */
	int64_t zeros;             /* zero bytes at the end */
	unsigned char *pax;        /* the records of a pax header */
	size_t paxlen;
	int64_t pax_offset, pax_size;
	char *pax_path, *pax_link;
	struct rep_form_entry *q;  /* entries seen, not yet taken */
	size_t head, n, cap;
	char name[512];            /* of the header at hand, for messages */
	char err[2560];            /* why the stream was refused */
};
int rep_form_feed(struct rep_form *f, const void *buf, size_t n);
int rep_form_end(struct rep_form *f);
int rep_form_next(struct rep_form *f, struct rep_form_entry *e);
void rep_form_entry_free(struct rep_form_entry *e);
void rep_form_free(struct rep_form *f);

/* A MANIFEST's record: version 1 has no dirs (-1), state or offset. */
struct rep_manifest_app {
	struct rep_app app;        /* first: a pointer to it is a struct rep_app */
	int64_t dirs;              /* directories below its own, or -1 */
	int64_t offset;            /* of its directory's header in the tar, or -1 */
	int remove;                /* a removal row: no entries in the archive */
	int seen;                  /* its directory was read */
	int64_t at;                /* where (seen), in the tar stream as read */
	/* (seen) SHA-256 of its entries as read: each one's path, type,
	 * mode, size, time and link target, which with the checksum make
	 * the tree it unpacks to (the checksum leaves out directories and
	 * times); a part of the archive is compared with it */
	unsigned char entries[SHA256_DIGEST_SIZE];
	unsigned hooks;            /* REP_HOOK_ bits: regular files .rep/PHASE in the archive */
	unsigned hooks_noexec;     /* those of them not executable */
};
/* An application's hooks (rep(7) HOOKS): .rep/configure, start, check, stop */
enum { REP_HOOK_CONFIGURE = 1, REP_HOOK_START = 2, REP_HOOK_CHECK = 4, REP_HOOK_STOP = 8 };
extern const char *const rep_hook_phases[4];   /* by bit: "configure", ... */
#define REP_MANIFEST_MAX (16 * 1024 * 1024)  /* bytes of a MANIFEST */
/* bytes of an entry's path in an archive, rep_applications/NAME/PATH:
 * the far side unpacks and reads it below a directory of its own, and
 * every path it opens must stay under PATH_MAX */
#define REP_PATH_MAX 4000
#define REP_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define REP_MANIFEST_APPS 100000             /* records of a MANIFEST */
struct rep_manifest {
	int release;               /* set before parsing: a release's full MANIFEST,
	                            * whose DIRS may be "-" (an archive's never) */
	struct rep_strset apps;    /* name -> struct rep_manifest_app *, in order */
	int version;               /* of the MANIFEST: 1 or 2 */
	int64_t files;             /* files and symlinks of all applications */
	char sha256[65];           /* of the archive file, as it was read */
	char manifest_sha256[65];  /* of its MANIFEST */
	int64_t tar_end;           /* where its end-of-archive blocks begin, as read */
	int64_t tar_size;          /* bytes of its tar stream, as read */
};
void rep_archive_check(const char *path, struct rep_manifest *m);
void rep_archive_check_as(const char *file, const char *path, struct rep_manifest *m);
void rep_manifest_print(FILE *fp, const struct rep_manifest *m);
void rep_manifest_row(FILE *fp, const struct rep_manifest_app *s, int offset);
void rep_archive_unpack(const char *path, int dirfd, const struct rep_manifest *checked);
/* An archive read and inflated once for several stagings: the two pipes
 * between the reader (rep_archive_tee) and one staging, the tar stream
 * then the verdict on the file's SHA-256. */
struct rep_feed {
	int data, verdict;
};
void rep_archive_tee(const char *path, const struct rep_feed *to, size_t n);
void rep_archive_unpack_from(const struct rep_feed *feed, const char *path, int dirfd,
    const struct rep_manifest *checked);
void rep_manifest_parse(const char *label, char *text, struct rep_manifest *m);
void rep_manifest_free(struct rep_manifest *m);
/* subset.c: the applications of a checked archive (m) that send[i]
 * marks, as an archive of their own written to fd out: 0, or -1 when the
 * archive is not in the form that allows it (an earlier version's) */
int rep_archive_subset(const char *path, const struct rep_manifest *m, const unsigned char *send,
    int out, const char *label);
/* Where the tar stream of a checked archive (m, open at fd) may be cut
 * into pieces that unpack at once, each a tar stream of its own: each
 * point where an application's entries begin, with how a piece that
 * starts there is read (the member that holds it, and the bytes of its
 * tar to skip) and where one that ends there stops (the end of the
 * member that holds the byte before it). At most max points, near equal
 * shares, each piece at least REP_CUT_MIN bytes of tar; 0 where the
 * archive is small or not in the form that allows it (an earlier
 * version's). */
struct rep_cut {
	int64_t tar;               /* the point, in the tar stream */
	int64_t from;              /* a piece from it: the member to inflate from */
	int64_t skip;              /* and the bytes of its tar before the point */
	int64_t to;                /* a piece up to it: the end of its last member */
};
enum { REP_CUT_MIN = 4 << 20 };
size_t rep_archive_cuts(int fd, const struct rep_manifest *m, struct rep_cut *cut, size_t max);
#ifdef REP_FUZZ
void rep_fuzz_archive_reset(void);  /* after rep_die() returned to a harness */
#endif

/* cleanup.c: one list of things to undo, run on die, on exit and on the
 * signals a tool catches; entries run newest first, each once, and only
 * in the process that added them (not in its children). An entry that
 * may run on a signal must be async-signal-safe. The node is the
 * caller's (static or in a struct), so the list never allocates. */
struct rep_cleanup {
	void (*fn)(void *arg);
	void *arg;
	pid_t owner;
	struct rep_cleanup *next;
	int linked;
};
void rep_cleanup_add(struct rep_cleanup *c, void (*fn)(void *arg), void *arg);
void rep_cleanup_remove(struct rep_cleanup *c);
void rep_cleanup_run(void);
void rep_cleanup_signals(void);
void rep_cleanup_hold(void);
void rep_cleanup_deliver(void);
void rep_cleanup_child(void);
int rep_cleanup_signal(void);

/* child.c: the one way to start and reap child processes */
enum { REP_CHILD_GROUP = 1 };  /* in a process group of its own */
/* rep_child_spawn's children are always in a group of their own: a
 * Ctrl-C at the terminal reaches rep alone, which decides what stops. */
pid_t rep_child_fork(int deathsig, int flags);
pid_t rep_child_spawn(const char *const *argv, int in, int out, int err, int deathsig);
int rep_child_wait(pid_t pid);

/* fs.c: file-system steps every tool takes the same way */
int rep_rename_noreplace(int fromfd, const char *from, int tofd, const char *to);
int rep_rm_tree(int dirfd, const char *name);
int rep_open_regular(int dirfd, const char *name);
char *rep_read_small(int dirfd, const char *name, size_t max);
ssize_t rep_read_full(int fd, void *buf, size_t n);
int rep_copy_tree(int fromfd, const char *from, int tofd, const char *to);

/* release.c: release names and their order, a target's set of
 * releases, lock lines */
int rep_release_name(const char *s);
int rep_release_cmp(const char *a, const char *b);
char *rep_release_of(const char *archive);
void rep_releases_put(struct rep_strset *s, const char *name, const char *msha);
const char *rep_releases_get(const struct rep_strset *s, const char *name);
/* storefd: the target's store/ (a release of links into it is checked
 * with what it links to), REP_NO_STORE if it has none, or -1: the old
 * format only */
#define REP_NO_STORE (-2)
void rep_release_verify(int storefd, int dirfd, const char *label, const char *msha);
/* the S of a link of a release's rep_applications/NAME, if its text is
 * exactly ../../../store/S/rep_applications/NAME */
#define REP_STORE_LINK "../../../store/"
int rep_store_link(const char *text, const char *name, char s[REP_NAME_MAX + 1]);
int rep_release_same_app(const struct rep_manifest_app *a, const struct rep_manifest_app *b);
const char *rep_hostname(void);
const char *rep_pusher(void);
void rep_lock_line(char *buf, size_t size, long pid);
void rep_lock_holder(const char *line, char *out, size_t size);
/* how a target is opened: read only (-n), locked for a push (DIR and
 * releases/ made if missing), locked for a rollback (nothing made) */
enum rep_lock { REP_LOCK_READ, REP_LOCK_PUSH, REP_LOCK_ROLLBACK };

/* deploy.c: the two-phase deploy over any kind of target (transport.h):
 * lock all, stage all, switch all or switch back, prune, roll back.
 * Messages about steps and outcomes, and the records of what went live,
 * left or failed, go through the callbacks; per-target errors go to stderr as they
 * happen. */
enum rep_deploy_rc {
	REP_DEPLOY_OK = 0,
	REP_DEPLOY_UNCHANGED = 1,   /* no target changed */
	REP_DEPLOY_MIXED = 3,       /* targets changed, not as asked or not reported */
};
/* What a push or a rollback did to an application: event "live",
 * "left" or "failed" (why: the reason; NULL for the others); targets:
 * the operands where, joined by commas in command-line order. */
struct rep_deploy_rec {
	const char *name, *release, *targets, *checksum, *event, *why;
};
struct rep_deploy_cb {
	/* a step on a target; plan: part of a dry run's plan, else progress */
	void (*step)(void *arg, int plan, const char *target, const char *fmt, va_list ap)
	    __attribute__((format(printf, 4, 0)));
	/* the outcome for a release (or "rollback") */
	void (*outcome)(void *arg, const char *release, const char *fmt, va_list ap)
	    __attribute__((format(printf, 3, 0)));
	/* the records of one archive's push or of a rollback, in order
	 * (rep-push(1)); 0, or -1 if they could not be written */
	int (*records)(void *arg, const struct rep_deploy_rec *v, size_t n);
	/* what a hook that ran wrote (lines each ending in \n, as the
	 * target sent them; NULL: nothing), cut: bytes of it left out; ok:
	 * it passed. Called in a process of the target's own. */
	void (*hook)(void *arg, const char *target, const char *name, const char *phase,
	    const char *output, long long cut, int ok);
	/* optional: while a release is sent to targets, the bytes sent of
	 * all that are to go, about ten times a second; then once with
	 * release NULL, when it is over */
	void (*progress)(void *arg, const char *release, long long sent, long long total);
};
struct rep_deploy {
	long jobs, keep;
	long timeout;                /* seconds a target may stay silent; 0: its default */
	int dry_run;
	int replace;                 /* a release holds the archive's applications only */
	int no_hooks;                /* run no application's hooks */
	long hook_timeout;           /* seconds a hook may run; check: tried until then */
	const struct rep_deploy_cb *cb;
	void *arg;
	struct rep_deploy_state *s;  /* deploy.c's own */
};
void rep_deploy_targets(struct rep_deploy *d, char *const *args, size_t n);
int rep_deploy_open(struct rep_deploy *d, enum rep_lock how, const char *what);
int rep_deploy_push(struct rep_deploy *d, const char *archive, const char *release,
    const struct rep_manifest *m);
int rep_deploy_rollback(struct rep_deploy *d);
/* rep-push --status: a record of what is live on a target; name,
 * release and checksum NULL for a target read with nothing live. 0, or
 * -1 to stop (the output failed). */
typedef int (*rep_status_fn)(void *arg, const char *target, const char *name, const char *release,
    const char *checksum);
int rep_deploy_status(struct rep_deploy *d, rep_status_fn fn, void *arg);
void rep_deploy_close(struct rep_deploy *d);

#endif
