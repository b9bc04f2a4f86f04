"""Programs in a pseudo-terminal, knowing no backend.

fork: clinvk's own fork and exec of a program in a new pty; process: spawn a program in a
pty (its own session and process group) as a Child (wait for it, how it ended), stop its
group; signals: route signals to handlers for the length of
a run; terminal: the user's terminal (its size, raw mode); runner: the headless pump (a
program's output as lines, timeout, Ctrl-C); interactive: the interactive pump (the
terminal handed over to the program). Nothing is imported here: `clinvk --help` loads
none of it.
"""
