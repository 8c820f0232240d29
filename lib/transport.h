/* The transport interface: what the deploy protocol (deploy.c) asks of a
 * kind of target, and what each kind (local.c, ssh.c; the tests' fault
 * transport) provides. Private to the library, as xbps_api_impl.h is:
 * the tools see only rep.h's deploy section.
 *
 * A kind of target is one file exporting one `struct rep_transport`;
 * transports.c lists the kinds in the order they are asked to claim an
 * operand. A backend keeps its own state behind t->priv and depends only
 * on leaf modules (release.c, fs.c, child.c, frame.c, cleanup.c, err.c,
 * archive.c), never on target.c or deploy.c. */
#ifndef REP_TRANSPORT_H
#define REP_TRANSPORT_H

#include "rep.h"

/* What is known of a target: filled by open(), kept current by
 * target.c as the protocol switches and prunes. */
struct rep_target {
	const char *arg;              /* the operand as given: messages, records */
	int index;                    /* its place among the operands */
	const struct rep_transport *ops;
	void *priv;                   /* the transport's own state */
	char current[REP_NAME_MAX + 1]; /* the live release, "" for none */
	struct rep_strset releases;   /* release -> its MANIFEST's SHA-256 ("-": none) */
	char holder[640];             /* REP_LOCK_READ: who holds the lock */
	char stale[640];              /* REP_LOCK_READ: who held it and is gone */
	int timeout;                  /* seconds a reply may be silent (rep-push --timeout) */
	char *log;                    /* the deployment log as open() read it, NULL: none */
	char *live_manifest;          /* current's MANIFEST as open() read it, NULL: no current */
	struct rep_strset links;      /* live(): each application's entry in current -> what
	                               * its link holds; none for one of the old format */
	struct rep_strset hooks;      /* open(): "NAME TAB PHASE" for each hook of current's
	                               * applications (values NULL) */
	char pending[REP_NAME_MAX + 1]; /* open(): the hooks-pending mark's release, "" none */
};

/* What a staging makes of the archive on a target (lib/compose.c): the
 * full MANIFEST of the new release, composed on the base release. */
struct rep_compose {
	const char *base;             /* the release composed on, "" for none */
	const char *text;             /* the full MANIFEST */
	size_t len;
	char sha[65];                 /* its SHA-256 */
};

/* Where a staging reads the archive: the file, or the tar stream of a
 * reader shared by several stagings (rep_archive_tee), for transports
 * that set shares_feed. */
struct rep_stage_src {
	const char *path;
	const struct rep_feed *feed;  /* NULL: read path */
	/* where a transport that uploads counts the archive's bytes sent,
	 * in memory shared with rep-push's process; NULL: not counted */
	volatile long long *sent;
	/* where it says how many bytes it sends in all, once it knows
	 * (the part of the archive a target lacks); NULL: not told */
	volatile long long *total;
};

/* compose.c: the release a push makes of a target's live one, and the
 * history its deployment log tells. */
struct rep_plan {
	size_t enter, change, stay, leave;
	char *enter_names, *change_names, *leave_names;  /* the first few, ", " between */
	struct rep_strset left;       /* each that leaves -> the checksum live (rep-push's left records) */
};
void rep_compose(const char *base, const char *label, const struct rep_manifest *m, int replace,
    struct rep_compose *c, struct rep_plan *p);
void rep_plan_free(struct rep_plan *p);
char *rep_log_line(const char *event, const char *to, const char *was);
/* The undo stack: stack[n-1] is where a rollback goes first ("" for no
 * release); rolled: the releases rolled back from (val non-NULL). */
struct rep_history {
	char **stack;
	size_t n, cap;
	struct rep_strset rolled;
};
void rep_history_read(struct rep_history *h, const char *log, const char *current,
    const struct rep_strset *releases);
void rep_history_apply(struct rep_history *h, const char *event, const char *to, const char *was);
const char *rep_history_back(const struct rep_history *h, const struct rep_strset *releases, size_t *depth);
int rep_history_reaches(const struct rep_history *h, const struct rep_strset *releases, const char *r,
    long keep);
void rep_history_free(struct rep_history *h);

/* One run of an application's hook on a target (lib/far.sh: hook). */
struct rep_hook {
	const char *phase;            /* configure, start, check or stop */
	const char *name;             /* the application */
	const char *release;          /* the release whose copy of it runs the hook */
	const char *previous;         /* the release live before the switch, "" for none */
	const char *checksum;         /* its content in release: names its work directory */
	int timeout;                  /* seconds a run may take; check: tried until then */
};
struct rep_hook_result {
	int ran;                      /* 0: the release has no such hook; nothing ran */
	int status;                   /* its exit status (last try), -1: killed at its timeout */
	int tries;                    /* the runs (check: until one passed or time was up) */
	char *output;                 /* its output, lines each ending in \n, as sent; NULL: none */
	long long cut;                /* bytes of output beyond what was sent */
};
void rep_hook_result_free(struct rep_hook_result *res);

/* open()'s answers besides 0 */
enum { REP_OPEN_FAILED = -1, REP_OPEN_BUSY = -2 };
/* switch_to()'s answers besides 0 */
enum { REP_SWITCH_FAILED = -1,  /* current is as it was */
       REP_SWITCH_UNKNOWN = -2  /* it may have moved: the target stopped answering */ };

struct rep_transport {
	const char *kind;
	/* 1 if arg names a target of this kind (t->priv then set), 0 if
	 * not; dies naming arg when it is of this kind but unusable. */
	int (*parse)(struct rep_target *t, const char *arg);
	/* The place a target names, so that one place named twice is
	 * refused before any lock: written to buf, "" if unknown. */
	void (*identity)(const struct rep_target *t, char *buf, size_t size);
	/* Optional: starts what open() finishes (the connection, and the
	 * request for the lock or the listing) without waiting, so that
	 * several targets connect at once; open() reports what went wrong.
	 * NULL: open() does it all. */
	void (*begin)(struct rep_target *t, enum rep_lock how);
	/* Opens the target and, unless how is REP_LOCK_READ, locks it
	 * (registering the unlock with the cleanup registry); reads
	 * current, releases and, for REP_LOCK_READ, the lock's holder into
	 * t. 0, REP_OPEN_BUSY (locked by another push, holder told) or
	 * REP_OPEN_FAILED (the reason told). */
	int (*open)(struct rep_target *t, enum rep_lock how);
	/* Reads what is live, without a lock and never waiting for one:
	 * current, its MANIFEST into live_manifest (NULL: no current) and
	 * what each application's link in it holds into links, all from
	 * the one release current named when it was read. 0 or
	 * REP_OPEN_FAILED (the reason told). */
	int (*live)(struct rep_target *t);
	/* Unpacks and checks the archive as store/RELEASE (or finds it
	 * there), and makes releases/RELEASE of c: its MANIFEST and a link
	 * for each application, into store/RELEASE for the archive's, else
	 * where c->base's link leads; nothing live changed. Runs in a child
	 * process of its own (deploy.c), which it may end by dying; 0 or -1
	 * (the reason told). */
	int (*stage)(struct rep_target *t, const struct rep_stage_src *src, const char *release,
	    const struct rep_manifest *m, const struct rep_compose *c);
	int shares_feed;              /* stage() takes src->feed */
	int uploads;                  /* stage() sends the archive, counted in src->sent */
	/* Appends line (no LF) to the deployment log, then points current
	 * at releases/TO ("" removes it), if it still is t->current; 0 or a
	 * REP_SWITCH_ answer (the reason told). */
	int (*switch_to)(struct rep_target *t, const char *to, const char *line);
	/* Removes the named releases, then what of store/ no release left
	 * links to; 0 or -1 (the reason told). */
	int (*prune)(struct rep_target *t, char *const *names, size_t n);
	/* Checks that releases/RELEASE, already on the target, is still
	 * exactly what its MANIFEST (whose SHA-256 is msha) lists, with the
	 * modes a release has, before a switch makes it live again; 0 or -1
	 * (the reason told). */
	int (*verify)(struct rep_target *t, const char *release, const char *msha);
	/* Runs h on the target (the caller holds its lock), filling res:
	 * 0, or -1 when it could not be run at all (the reason told). */
	int (*hook)(struct rep_target *t, const struct rep_hook *h, struct rep_hook_result *res);
	/* The hooks-pending mark (DIR/hooks.pending): its release before
	 * into was ("" none; "-" as set; "an unknown release" for a mark
	 * that holds no release's name), then, unless set is NULL, set to
	 * it (a release, or "-"), or for "" cleared, and work/ directories
	 * no release lists removed. A target with no directory has no mark
	 * to read or clear. 0 or -1 (the reason told). */
	int (*pending)(struct rep_target *t, const char *set, char *was, size_t size);
	/* A release's MANIFEST, malloc'd, or NULL (the reason told). */
	char *(*manifest)(struct rep_target *t, const char *release);
	/* Drops the lock and the connection, frees priv; safe to call on a
	 * target that was never opened. */
	void (*close)(struct rep_target *t);
};

/* target.c: the dispatcher. Parses an operand into the kind that claims
 * it, and runs each operation through t->ops, keeping t->current and
 * t->releases as the operations change them. */
void rep_target_parse(struct rep_target *t, const char *arg);
void rep_target_begin(struct rep_target *t, enum rep_lock how);
int rep_target_open(struct rep_target *t, enum rep_lock how);
int rep_target_live(struct rep_target *t);
int rep_target_stage(struct rep_target *t, const struct rep_stage_src *src, const char *release,
    const struct rep_manifest *m, const struct rep_compose *c);
int rep_target_switch(struct rep_target *t, const char *to, const char *line);
int rep_target_prune(struct rep_target *t, char *const *names, size_t n);
int rep_target_verify(struct rep_target *t, const char *release);
char *rep_target_manifest(struct rep_target *t, const char *release);
int rep_target_hook(struct rep_target *t, const struct rep_hook *h, struct rep_hook_result *res);
int rep_target_pending(struct rep_target *t, const char *set, char *was, size_t size);
void rep_target_close(struct rep_target *t);

extern const struct rep_transport rep_local_transport, rep_ssh_transport;
/* The kinds rep-push knows, NULL-terminated, asked in order: the tests'
 * build links a table of its own (tests/fault.c), the tools this one. */
extern const struct rep_transport *const rep_transports[];

/* frame.c: the far side's replies (lib/far.sh), each read whole: lines
 * tagged '|' (data), '!' (message) and '+' (keepalive), ended by one
 * line '.WORD'. Any other line is a protocol error. Reads wait, and
 * writes to the session wait, at most timeout seconds of silence (0:
 * REP_FRAME_IDLE): a far side that stops answering or reading cannot
 * hang rep. */
enum { REP_FRAME_IDLE = 300 };
struct rep_frame {
	int fd;
	int timeout;
	size_t off, len;              /* buf[off..len): read, not parsed yet */
	char buf[REP_LINE_MAX + 2];
};
struct rep_reply {
	char *data;                   /* the '|' lines untagged, each ending in \n */
	char *text;                   /* the '!' lines likewise; both NULL if none */
	size_t ndata, ntext;
	char word[16];                /* the final word, without its '.' */
	char bad[256];                /* REP_FRAME_BAD: the line, control bytes visible */
};
/* rep_frame_read()'s answers besides 0 (a whole reply) */
enum { REP_FRAME_EOF = -1, REP_FRAME_TIMEOUT = -2, REP_FRAME_BAD = -3 };
int rep_frame_read(struct rep_frame *f, struct rep_reply *r);
void rep_reply_free(struct rep_reply *r);
int rep_frame_send(int fd, const void *buf, size_t n, int timeout);
int rep_frame_seconds(int timeout);
/* A hook's reply (far.sh: hook) into res: 0, or -1 when it is not one
 * (the reason told). */
int rep_hook_reply(const struct rep_target *t, const struct rep_reply *r, struct rep_hook_result *res);
/* A pending reply (far.sh: pending): the mark's release into was, ""
 * for none. */
void rep_pending_reply(const struct rep_reply *r, char *was, size_t size);
/* The mark's text (n bytes) as was holds it: a release name or "-", else
 * "an unknown release" (marked all the same). */
void rep_pending_value(const char *v, size_t n, char *was, size_t size);
/* far.c: lib/far.sh, run by the ssh transport on the host and by the
 * local one for hooks, as sh -c rep_far_script rep-push OP DIR ARGS... */
extern const char rep_far_script[];

#endif
