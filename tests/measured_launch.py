"""Run one command with its address space limited and report its own resource use.

`python measured_launch.py LIMIT REPORT COMMAND...`: forks, limits the child's address space to
LIMIT bytes (-1: unlimited), execs COMMAND and writes "<exit code> <CPU seconds> <peak RSS in KiB>"
of the command and its waited-for children to REPORT. Tests that bound a command's memory start it
through this small process because a process forked from pytest inherits pytest's resident size as
its peak (Linux counts the memory of the process it was forked from until it execs), which would
hide what the command itself used.
"""

import os
import resource
import sys


def main() -> None:
    """Launch the command, wait for it and write its report."""
    limit, report, *command = sys.argv[1:]
    pid = os.fork()
    if pid == 0:
        resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))
        os.execv(command[0], command)
    _, status, usage = os.wait4(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    with open(report, "w") as file:
        file.write(f"{code} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss}")


if __name__ == "__main__":
    main()
