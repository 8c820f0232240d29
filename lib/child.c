/* Child processes, started and reaped one way (git's run-command is the
 * model): a child that must not outlive rep gets a death signal, and one
 * whose whole group may be signalled gets a process group of its own. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rep.h"

/* Returns as fork() does. deathsig (0: none) is sent to the child when
 * the parent dies, even by SIGKILL; a parent already gone by then is
 * caught too, as the child then has another parent. */
pid_t rep_child_fork(int deathsig, int flags)
{
	fflush(NULL);
	pid_t parent = getpid(), pid = fork();

	if (pid < 0)
		rep_die_errno("fork");
	if (pid == 0) {
		if (deathsig && (prctl(PR_SET_PDEATHSIG, deathsig) < 0 || getppid() != parent))
			_exit(255);
		if (flags & REP_CHILD_GROUP)
			setpgid(0, 0);
		rep_cleanup_child();
		return 0;
	}
	/* both sides set the group: whichever runs first, it is in place
	 * before the parent signals it */
	if (flags & REP_CHILD_GROUP)
		setpgid(pid, pid);
	return pid;
}

/* Runs argv with in, out and err as its stdin, stdout and stderr, in a
 * process group of its own: a signal from the terminal is for rep (an
 * ssh session killed by it mid-switch would leave the fleet unknown). */
pid_t rep_child_spawn(const char *const *argv, int in, int out, int err, int deathsig)
{
	pid_t pid = rep_child_fork(deathsig, REP_CHILD_GROUP);

	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(255);
		execvp(argv[0], (char *const *)argv);
		dprintf(2, "%s: %s\n", argv[0], strerror(errno));
		_exit(255);
	}
	return pid;
}

/* The child's wait status, or -1 with errno set. */
int rep_child_wait(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}
