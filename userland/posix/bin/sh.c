/* sh: a small shell.
 *   sh            read commands from stdin (no prompt)
 *   sh -i         interactive: prompt "$ " before each line
 *   sh -c CMD     run CMD
 *   sh FILE       run the commands in FILE
 * Grammar per line: pipeline [&] [; pipeline [&]]...; a pipeline is cmd [| cmd]...; a command is
 * words with optional `< file`, `> file`, `>> file`. Words may be quoted with '...' or "...".
 * `#` starts a comment. Builtins: exit [N]. Commands without a slash are looked up in $PATH
 * (default /bin). A failed foreground command is reported on stderr:
 *   sh: CMD: exit status N      /      sh: CMD: killed by signal N
 * Background jobs print "[PID]" on stderr when started and "[PID] done, status N" when reaped.
 * The shell exits with the status of the last foreground command (or N for `exit N`).
 * Ctrl-C (SIGINT) and Ctrl-\ (SIGQUIT) do not end the shell, which ignores them, nor background
 * jobs; a foreground command gets them (it starts with the default action). */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <errno.h>
#include <sys/wait.h>
#include <signal.h>

#define MAXTOK 512
#define MAXCMD 32
#define MAXARG 128

enum { T_WORD, T_PIPE, T_LT, T_GT, T_GTGT, T_AMP, T_SEMI, T_END };
typedef struct { int type; char *text; } token;

typedef struct {
    char *argv[MAXARG + 1];
    int argc;
    char *in, *out;
    int append;
} command;

static int last_status;
static int interactive;

static char arena[2 * 4096 + 16];  /* unquoted words of the current line */

static int tokenize(char *line, token *toks)
{
    int n = 0;
    size_t used = 0;
    if (strlen(line) > 2 * 4096) { fprintf(stderr, "sh: line too long\n"); return -1; }
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
        if (!*p || *p == '#') break;
        if (n >= MAXTOK - 1) { fprintf(stderr, "sh: line too long\n"); return -1; }
        if (*p == '|') { toks[n++] = (token){ T_PIPE, 0 }; p++; continue; }
        if (*p == '<') { toks[n++] = (token){ T_LT, 0 }; p++; continue; }
        if (*p == '>') {
            if (p[1] == '>') { toks[n++] = (token){ T_GTGT, 0 }; p += 2; }
            else { toks[n++] = (token){ T_GT, 0 }; p++; }
            continue;
        }
        if (*p == '&') { toks[n++] = (token){ T_AMP, 0 }; p++; continue; }
        if (*p == ';') { toks[n++] = (token){ T_SEMI, 0 }; p++; continue; }
        /* a word, possibly with quoted parts, copied unquoted into the arena */
        char *w = arena + used, *start = w;
        while (*p && !strchr(" \t\r\n|<>&;", *p)) {
            if (*p == '\'' || *p == '"') {
                char q = *p++;
                while (*p && *p != q) {
                    if (q == '"' && *p == '\\' && (p[1] == '"' || p[1] == '\\')) p++;
                    *w++ = *p++;
                }
                if (*p != q) { fprintf(stderr, "sh: unterminated quote\n"); return -1; }
                p++;
            } else {
                *w++ = *p++;
            }
        }
        *w++ = 0;
        used = (size_t)(w - arena);
        toks[n++] = (token){ T_WORD, start };
    }
    toks[n].type = T_END;
    return n;
}

static void report(const char *name, int status)
{
    if (WIFSIGNALED(status)) fprintf(stderr, "sh: %s: killed by signal %d\n", name, WTERMSIG(status));
    else if (WEXITSTATUS(status)) fprintf(stderr, "sh: %s: exit status %d\n", name, WEXITSTATUS(status));
}

static int status_code(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

static void reap_background(void)
{
    int st;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0)
        fprintf(stderr, "[%d] done, status %d\n", p, status_code(st));
}

static void run_child(command *c, int in_fd, int out_fd, int background)
{
    if (!background) { signal(SIGINT, SIG_DFL); signal(SIGQUIT, SIG_DFL); }
    if (in_fd != 0) { dup2(in_fd, 0); close(in_fd); }
    if (out_fd != 1) { dup2(out_fd, 1); close(out_fd); }
    if (c->in) {
        int fd = open(c->in, O_RDONLY);
        if (fd < 0) { fprintf(stderr, "sh: %s: %s\n", c->in, strerror(errno)); _exit(1); }
        dup2(fd, 0); close(fd);
    }
    if (c->out) {
        int fd = open(c->out, O_WRONLY | O_CREAT | (c->append ? O_APPEND : O_TRUNC), 0644);
        if (fd < 0) { fprintf(stderr, "sh: %s: %s\n", c->out, strerror(errno)); _exit(1); }
        dup2(fd, 1); close(fd);
    }
    execvp(c->argv[0], c->argv);
    int e = errno;
    if (e == ENOENT) { fprintf(stderr, "sh: %s: not found\n", c->argv[0]); _exit(127); }
    fprintf(stderr, "sh: %s: %s\n", c->argv[0], strerror(e));
    _exit(126);
}

/* Runs one pipeline; returns 0, or -1 for a syntax error. */
static int run_pipeline(command *cmds, int ncmd, int background)
{
    if (ncmd == 1 && cmds[0].argc > 0 && strcmp(cmds[0].argv[0], "exit") == 0) {
        exit(cmds[0].argc > 1 ? atoi(cmds[0].argv[1]) : last_status);
    }
    pid_t pids[MAXCMD];
    int in_fd = 0;
    for (int i = 0; i < ncmd; i++) {
        int fds[2] = { -1, 1 };
        if (i + 1 < ncmd && pipe(fds) < 0) { perror("sh: pipe"); return 0; }
        pid_t p = fork();
        if (p < 0) {
            perror("sh: fork");
            if (fds[0] >= 0) { close(fds[0]); close(fds[1]); }
            ncmd = i;
            break;
        }
        if (p == 0) {
            if (fds[0] >= 0) close(fds[0]);
            run_child(&cmds[i], in_fd, i + 1 < ncmd ? fds[1] : 1, background);
        }
        pids[i] = p;
        if (in_fd != 0) close(in_fd);
        if (i + 1 < ncmd) { close(fds[1]); in_fd = fds[0]; }
    }
    if (in_fd != 0) close(in_fd);
    if (background) {
        for (int i = 0; i < ncmd; i++) fprintf(stderr, "[%d]\n", pids[i]);
        last_status = 0;
        return 0;
    }
    for (int i = 0; i < ncmd; i++) {
        int st = 0;
        while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR) {}
        if (i == ncmd - 1) {
            last_status = status_code(st);
            if (WIFSIGNALED(st) && WTERMSIG(st) == SIGINT) write(2, "\n", 1);   /* after the terminal's ^C */
            report(cmds[i].argv[0], st);
        }
    }
    return 0;
}

static void run_line(char *line)
{
    static token toks[MAXTOK];
    static command cmds[MAXCMD];
    int n = tokenize(line, toks);
    if (n < 0) { last_status = 2; return; }
    int i = 0;
    while (toks[i].type != T_END) {
        int ncmd = 0, background = 0;
        memset(&cmds[0], 0, sizeof cmds[0]);
        for (;; i++) {
            token *t = &toks[i];
            command *c = &cmds[ncmd];
            if (t->type == T_WORD) {
                if (c->argc >= MAXARG) { fprintf(stderr, "sh: too many arguments\n"); last_status = 2; return; }
                c->argv[c->argc++] = t->text;
            } else if (t->type == T_LT || t->type == T_GT || t->type == T_GTGT) {
                if (toks[i + 1].type != T_WORD) { fprintf(stderr, "sh: syntax error: missing file name\n"); last_status = 2; return; }
                if (t->type == T_LT) c->in = toks[i + 1].text;
                else { c->out = toks[i + 1].text; c->append = t->type == T_GTGT; }
                i++;
            } else if (t->type == T_PIPE) {
                if (c->argc == 0 || ncmd + 1 >= MAXCMD) { fprintf(stderr, "sh: syntax error near |\n"); last_status = 2; return; }
                c->argv[c->argc] = 0;
                ncmd++;
                memset(&cmds[ncmd], 0, sizeof cmds[ncmd]);
            } else {
                break;
            }
        }
        command *c = &cmds[ncmd];
        if (c->argc == 0) {
            if (ncmd > 0) { fprintf(stderr, "sh: syntax error: empty command\n"); last_status = 2; return; }
        } else {
            c->argv[c->argc] = 0;
            ncmd++;
        }
        if (toks[i].type == T_AMP) { background = 1; i++; }
        else if (toks[i].type == T_SEMI) i++;
        if (ncmd > 0) run_pipeline(cmds, ncmd, background);
    }
}

/* Reads one line byte by byte (so children inherit the rest of the input). */
static int read_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r <= 0) { if (n == 0) return -1; break; }
        if (c == '\n') break;
        if (n + 1 < cap) buf[n++] = c;
    }
    buf[n] = 0;
    return (int)n;
}

int main(int argc, char **argv)
{
    int fd = 0;
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    if (argc > 2 && strcmp(argv[1], "-c") == 0) {
        run_line(argv[2]);
        reap_background();
        return last_status;
    }
    if (argc > 1 && strcmp(argv[1], "-i") == 0) interactive = 1;
    else if (argc > 1) {
        fd = open(argv[1], O_RDONLY);
        if (fd < 0) { fprintf(stderr, "sh: %s: %s\n", argv[1], strerror(errno)); return 127; }
    }
    static char line[4096];
    for (;;) {
        reap_background();
        if (interactive) write(1, "$ ", 2);
        if (read_line(fd, line, sizeof line) < 0) break;
        run_line(line);
    }
    if (interactive) write(1, "\n", 1);
    return last_status;
}
