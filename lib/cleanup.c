/* The cleanup registry: one list of undo actions (a lock to drop, a
 * temporary to remove), run whichever way a process ends: rep_die(), a
 * plain exit, or a signal it catches. The model is git's tempfile.c with
 * sigchain: a node belongs to the process that added it, so a child that
 * inherited the list never undoes its parent's work; signals that were
 * ignored when the tool started stay ignored (nohup). Nodes are the
 * callers', linked without allocating, and the list is changed with the
 * caught signals blocked, so a handler always sees a whole list. */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "rep.h"

static struct rep_cleanup *head;
static const int caught[] = { SIGHUP, SIGINT, SIGTERM };
static int catching;

static void block(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof caught / sizeof caught[0]; i++)
		sigaddset(&set, caught[i]);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

void rep_cleanup_add(struct rep_cleanup *c, void (*fn)(void *arg), void *arg)
{
	sigset_t old;

	block(&old);
	if (!c->linked) {
		c->next = head;
		head = c;
		c->linked = 1;
	}
	c->fn = fn;
	c->arg = arg;
	c->owner = getpid();
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void rep_cleanup_remove(struct rep_cleanup *c)
{
	sigset_t old;

	block(&old);
	for (struct rep_cleanup **p = &head; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	c->linked = 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Newest first; each node is unlinked before it runs, so an action that
 * dies, or a signal that comes meanwhile, does not run it twice. */
void rep_cleanup_run(void)
{
	sigset_t old;
	pid_t me = getpid();

	block(&old);
	while (head) {
		struct rep_cleanup *c = head;
		head = c->next;
		c->linked = 0;
		if (c->owner == me)
			c->fn(c->arg);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static volatile sig_atomic_t dying_by;

/* The caught signal the undo actions run for, or 0: an action that
 * reports the failure may use only async-signal-safe calls then. */
int rep_cleanup_signal(void)
{
	return dying_by;
}

static void on_signal(int sig)
{
	dying_by = sig;
	rep_cleanup_run();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void at_exit(void)
{
	rep_cleanup_run();
}

/* Catches HUP, INT and TERM (those not ignored on entry) and registers
 * the exit hook: from now on every way out undoes what is listed. */
void rep_cleanup_signals(void)
{
	if (catching)
		return;
	catching = 1;
	atexit(at_exit);
	for (size_t i = 0; i < sizeof caught / sizeof caught[0]; i++) {
		struct sigaction sa, was;
		if (sigaction(caught[i], NULL, &was) == 0 && was.sa_handler == SIG_IGN)
			continue;
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = 0;
		sigaction(caught[i], &sa, NULL);
	}
}

/* Between rep_cleanup_hold() and rep_cleanup_deliver() the caught
 * signals wait: a step that must not stop half-way (switching a fleet
 * and reporting it) ends first, then the signal has its way. */
static sigset_t held_mask;
static int holding;

void rep_cleanup_hold(void)
{
	if (!holding++)
		block(&held_mask);
}

void rep_cleanup_deliver(void)
{
	if (holding && !--holding)
		pthread_sigmask(SIG_SETMASK, &held_mask, NULL);
}

/* In a new child: the signals caught for the parent take their default
 * action again (ignored ones stay ignored); the inherited list is the
 * parent's and is never run here (rep_cleanup_run checks the owner). */
void rep_cleanup_child(void)
{
	for (size_t i = 0; catching && i < sizeof caught / sizeof caught[0]; i++) {
		struct sigaction was;
		if (sigaction(caught[i], NULL, &was) == 0 && was.sa_handler == on_signal)
			signal(caught[i], SIG_DFL);
	}
	if (holding) {
		holding = 0;
		pthread_sigmask(SIG_SETMASK, &held_mask, NULL);
	}
}
