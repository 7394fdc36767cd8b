/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs-util.h"
#include "parse-util.h"
#include "process-util.h"
#include "string-util.h"
#include "tests.h"

#define SEC(n) ((usec_t) (n) * USEC_PER_SEC)
#define MSEC(n) ((usec_t) (n) * USEC_PER_MSEC)
#define OUTPUT_CAP (64 * 1024)

static char tmpdir[] = "/tmp/test-process-util-XXXXXX";

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

__attribute__((constructor)) static void setup(void) {
        struct rlimit rl = {};

        ASSERT_NOT_NULL(mkdtemp(tmpdir));
        /* The SIGSEGV test must not leave (or wait for) a core dump. */
        ASSERT_TRUE(setrlimit(RLIMIT_CORE, &rl) == 0);
}

__attribute__((destructor)) static void cleanup(void) {
        ASSERT_TRUE(nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

static char *const test_env[] = { "PATH=/usr/bin:/bin", NULL };

/* Runs "sh -c script". */
static int run_sh(const char *script, usec_t timeout, size_t cap, SpawnResult *ret) {
        char *const argv[] = { "sh", "-c", (char *) script, NULL };

        return spawn_run(argv, test_env, timeout, cap, ret);
}

/* True if any process in the process group is still alive (zombies waiting for an init that does
 * not reap them do not count). */
static bool group_has_live_process(pid_t pgid) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        bool found = false;

        ASSERT_NOT_NULL(d);
        while (!found && (de = readdir(d))) {
                _cleanup_free_ char *path = NULL, *stat = NULL;
                unsigned pid;
                const char *p;
                char state;
                int pgrp;

                if (safe_atou(de->d_name, &pid) < 0)
                        continue;
                path = strjoin("/proc/", de->d_name, "/stat");
                if (fs_read_file(path, 4096, &stat, NULL) < 0)
                        continue; /* gone meanwhile */

                /* "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses. */
                p = strrchr(stat, ')');
                ASSERT_NOT_NULL(p);
                ASSERT_TRUE(sscanf(p + 1, " %c %*d %d", &state, &pgrp) == 2);
                if (pgrp == pgid && state != 'Z')
                        found = true;
        }
        closedir(d);
        return found;
}

static pid_t wait_group_gone(pid_t pgid) {
        /* The group is signalled before spawn_run() returns; allow a moment for the signal to be
         * delivered to the last member. */
        for (int i = 0; i < 50 && group_has_live_process(pgid); i++)
                usleep(20 * 1000);
        return group_has_live_process(pgid);
}

TEST(exit_code_and_output) {
        _cleanup_(spawn_result_done) SpawnResult r = {};
        _cleanup_free_ char *d = NULL;

        ASSERT_OK(run_sh("echo out; echo err >&2; exit 3", SEC(10), OUTPUT_CAP, &r));
        ASSERT_FALSE(r.signaled);
        ASSERT_FALSE(r.timed_out);
        ASSERT_EQ(r.exit_status, 3);
        ASSERT_STREQ(r.output, "out\nerr\n");
        ASSERT_EQ(r.output_len, 8);
        ASSERT_FALSE(r.output_truncated);
        ASSERT_TRUE(r.duration < SEC(10));

        ASSERT_OK(spawn_result_describe(&r, &d));
        ASSERT_STREQ(d, "exited with status 3");
}

TEST(exit_zero_no_output) {
        _cleanup_(spawn_result_done) SpawnResult r = {};
        char *const argv[] = { "true", NULL };

        ASSERT_OK(spawn_run(argv, test_env, SEC(10), OUTPUT_CAP, &r));
        ASSERT_EQ(r.exit_status, 0);
        ASSERT_FALSE(r.signaled);
        ASSERT_NOT_NULL(r.output);
        ASSERT_STREQ(r.output, "");
        ASSERT_EQ(r.output_len, 0);
}

TEST(signal) {
        _cleanup_(spawn_result_done) SpawnResult r = {};
        _cleanup_free_ char *d = NULL;

        ASSERT_OK(run_sh("kill -SEGV $$", SEC(10), OUTPUT_CAP, &r));
        ASSERT_TRUE(r.signaled);
        ASSERT_FALSE(r.timed_out);
        ASSERT_EQ(r.term_signal, SIGSEGV);

        ASSERT_OK(spawn_result_describe(&r, &d));
        ASSERT_STREQ(d, "killed by signal SIGSEGV");
}

TEST(timeout_kills_group) {
        _cleanup_(spawn_result_done) SpawnResult r = {};
        _cleanup_free_ char *d = NULL;
        unsigned pgid;
        char *nl;

        /* The shell waits for a background sleep: both are in the group and both must die. */
        ASSERT_OK(run_sh("echo $$; sleep 30 & wait", MSEC(500), OUTPUT_CAP, &r));
        ASSERT_TRUE(r.timed_out);
        ASSERT_TRUE(r.signaled);
        ASSERT_EQ(r.term_signal, SIGTERM);
        ASSERT_TRUE(r.duration >= MSEC(500));
        ASSERT_TRUE(r.duration < SEC(5));

        nl = strchr(r.output, '\n');
        ASSERT_NOT_NULL(nl);
        *nl = '\0';
        ASSERT_OK(safe_atou(r.output, &pgid));
        ASSERT_FALSE(wait_group_gone((pid_t) pgid));

        ASSERT_OK(spawn_result_describe(&r, &d));
        ASSERT_TRUE(startswith(d, "timed out after "));
}

TEST(timeout_escalates_to_sigkill) {
        _cleanup_(spawn_result_done) SpawnResult r = {};
        unsigned pgid;
        char *nl;

        /* SIGTERM is ignored by the shell and (inherited through exec) by sleep. */
        ASSERT_OK(run_sh("trap '' TERM; echo $$; sleep 30", MSEC(300), OUTPUT_CAP, &r));
        ASSERT_TRUE(r.timed_out);
        ASSERT_TRUE(r.signaled);
        ASSERT_EQ(r.term_signal, SIGKILL);
        ASSERT_TRUE(r.duration >= MSEC(2300));
        ASSERT_TRUE(r.duration < SEC(8));

        nl = strchr(r.output, '\n');
        ASSERT_NOT_NULL(nl);
        *nl = '\0';
        ASSERT_OK(safe_atou(r.output, &pgid));
        ASSERT_FALSE(wait_group_gone((pid_t) pgid));
}

TEST(background_holding_pipe) {
        _cleanup_(spawn_result_done) SpawnResult r = {};

        /* The child exits at once, but what it left behind holds the output pipe: that still counts
         * as running, and is killed at the timeout. */
        ASSERT_OK(run_sh("sleep 30 & echo started", MSEC(300), OUTPUT_CAP, &r));
        ASSERT_TRUE(r.timed_out);
        ASSERT_FALSE(r.signaled);
        ASSERT_EQ(r.exit_status, 0);
        ASSERT_STREQ(r.output, "started\n");
        ASSERT_TRUE(r.duration < SEC(5));
}

TEST(output_cap) {
        _cleanup_(spawn_result_done) SpawnResult r = {};
        char *const argv[] = { "head", "-c", "100000000", "/dev/zero", NULL };
        size_t zeros = 0;

        ASSERT_OK(spawn_run(argv, test_env, SEC(60), OUTPUT_CAP, &r));
        ASSERT_FALSE(r.timed_out);
        ASSERT_FALSE(r.signaled);
        ASSERT_EQ(r.exit_status, 0);
        ASSERT_TRUE(r.output_truncated);
        ASSERT_EQ(r.output_len, OUTPUT_CAP);
        for (size_t i = 0; i < r.output_len; i++)
                zeros += r.output[i] == '\0';
        ASSERT_EQ(zeros, OUTPUT_CAP);
        ASSERT_EQ(r.output[OUTPUT_CAP], '\0');
        ASSERT_TRUE(r.duration < SEC(20));
}

TEST(output_exactly_cap) {
        _cleanup_(spawn_result_done) SpawnResult r = {};

        ASSERT_OK(run_sh("printf 12345", SEC(10), 5, &r));
        ASSERT_STREQ(r.output, "12345");
        ASSERT_FALSE(r.output_truncated);
        spawn_result_done(&r);

        ASSERT_OK(run_sh("printf 123456", SEC(10), 5, &r));
        ASSERT_STREQ(r.output, "12345");
        ASSERT_TRUE(r.output_truncated);
}

/* Runs "sh -c script" with stderr captured apart. */
static int run_sh_separate(const char *script, usec_t timeout, size_t cap, SpawnResult *ret) {
        char *const argv[] = { "sh", "-c", (char *) script, NULL };

        return spawn_run_full(argv, test_env,
                              &(SpawnOptions) { .timeout = timeout, .output_cap = cap, .separate_stderr = true }, ret);
}

TEST(separate_stderr) {
        _cleanup_(spawn_result_done) SpawnResult r = {};

        ASSERT_OK(run_sh_separate("echo out1; echo err1 >&2; echo out2; printf err2 >&2; exit 5", SEC(10),
                                  OUTPUT_CAP, &r));
        ASSERT_FALSE(r.signaled);
        ASSERT_FALSE(r.timed_out);
        ASSERT_EQ(r.exit_status, 5);
        ASSERT_STREQ(r.output, "out1\nout2\n");
        ASSERT_EQ(r.output_len, 10);
        ASSERT_FALSE(r.output_truncated);
        ASSERT_STREQ(r.err_output, "err1\nerr2");
        ASSERT_EQ(r.err_output_len, 9);
        ASSERT_FALSE(r.err_output_truncated);
}

TEST(separate_stderr_empty) {
        _cleanup_(spawn_result_done) SpawnResult r = {};

        /* Both buffers exist (empty) when the child prints nothing. */
        ASSERT_OK(run_sh_separate("exit 0", SEC(10), OUTPUT_CAP, &r));
        ASSERT_EQ(r.exit_status, 0);
        ASSERT_NOT_NULL(r.output);
        ASSERT_STREQ(r.output, "");
        ASSERT_NOT_NULL(r.err_output);
        ASSERT_STREQ(r.err_output, "");
        ASSERT_EQ(r.err_output_len, 0);
}

TEST(combined_has_no_err_output) {
        _cleanup_(spawn_result_done) SpawnResult r = {};
        char *const argv[] = { "sh", "-c", "echo a; echo b >&2", NULL };

        /* Without separate_stderr, spawn_run_full() is spawn_run(). */
        ASSERT_OK(spawn_run_full(argv, test_env, &(SpawnOptions) { .timeout = SEC(10), .output_cap = OUTPUT_CAP },
                                 &r));
        ASSERT_STREQ(r.output, "a\nb\n");
        ASSERT_NULL(r.err_output);
        ASSERT_EQ(r.err_output_len, 0);
        ASSERT_FALSE(r.err_output_truncated);
}

TEST(separate_caps_huge_output) {
        _cleanup_(spawn_result_done) SpawnResult r = {};
        size_t zeros = 0, ones = 0;

        /* 100 MB on each stream, written at the same time: neither may block the child, neither may be
         * kept beyond the cap. stderr gets 0x01 bytes so that the streams can be told apart. */
        ASSERT_OK(run_sh_separate("head -c 100000000 /dev/zero & "
                                  "head -c 100000000 /dev/zero | tr '\\000' '\\001' >&2; wait",
                                  SEC(60), OUTPUT_CAP, &r));
        ASSERT_FALSE(r.timed_out);
        ASSERT_FALSE(r.signaled);
        ASSERT_EQ(r.exit_status, 0);
        ASSERT_TRUE(r.output_truncated);
        ASSERT_TRUE(r.err_output_truncated);
        ASSERT_EQ(r.output_len, OUTPUT_CAP);
        ASSERT_EQ(r.err_output_len, OUTPUT_CAP);
        for (size_t i = 0; i < OUTPUT_CAP; i++) {
                zeros += r.output[i] == '\0';
                ones += r.err_output[i] == '\1';
        }
        ASSERT_EQ(zeros, OUTPUT_CAP);
        ASSERT_EQ(ones, OUTPUT_CAP);
        ASSERT_EQ(r.output[OUTPUT_CAP], '\0');
        ASSERT_EQ(r.err_output[OUTPUT_CAP], '\0');
        ASSERT_TRUE(r.duration < SEC(30));
}

TEST(separate_huge_stderr_only) {
        _cleanup_(spawn_result_done) SpawnResult r = {};

        /* A helper that floods stderr and then prints its answer on stdout. */
        ASSERT_OK(run_sh_separate("head -c 100000000 /dev/zero >&2; echo answer", SEC(60), 1024, &r));
        ASSERT_EQ(r.exit_status, 0);
        ASSERT_STREQ(r.output, "answer\n");
        ASSERT_FALSE(r.output_truncated);
        ASSERT_EQ(r.err_output_len, 1024);
        ASSERT_TRUE(r.err_output_truncated);
}

TEST(separate_timeout_kills_group) {
        _cleanup_(spawn_result_done) SpawnResult r = {};
        unsigned pgid;
        char *nl;

        /* A background process holding only stderr open keeps the run going until the timeout; the
         * whole group is killed. */
        ASSERT_OK(run_sh_separate("echo $$; echo started >&2; sleep 30 >/dev/null & wait", MSEC(500),
                                  OUTPUT_CAP, &r));
        ASSERT_TRUE(r.timed_out);
        ASSERT_TRUE(r.signaled);
        ASSERT_EQ(r.term_signal, SIGTERM);
        ASSERT_TRUE(r.duration >= MSEC(500));
        ASSERT_TRUE(r.duration < SEC(5));
        ASSERT_STREQ(r.err_output, "started\n");

        nl = strchr(r.output, '\n');
        ASSERT_NOT_NULL(nl);
        *nl = '\0';
        ASSERT_OK(safe_atou(r.output, &pgid));
        ASSERT_FALSE(wait_group_gone((pid_t) pgid));
}

TEST(separate_stderr_held_open) {
        _cleanup_(spawn_result_done) SpawnResult r = {};

        /* The child exits, but a background process keeps stderr (only) open. */
        ASSERT_OK(run_sh_separate("sleep 30 >/dev/null & echo done", MSEC(300), OUTPUT_CAP, &r));
        ASSERT_TRUE(r.timed_out);
        ASSERT_FALSE(r.signaled);
        ASSERT_EQ(r.exit_status, 0);
        ASSERT_STREQ(r.output, "done\n");
        ASSERT_TRUE(r.duration < SEC(5));
}

TEST(separate_exec_errors) {
        SpawnResult r = { .exit_status = 12345 };
        char *const missing[] = { "certkeeper-no-such-program", NULL };
        char *const dev_null[] = { "/dev/null", NULL };
        SpawnOptions o = { .timeout = SEC(10), .output_cap = OUTPUT_CAP, .separate_stderr = true };

        ASSERT_ERROR(spawn_run_full(missing, test_env, &o, &r), ENOENT);
        ASSERT_ERROR(spawn_run_full(dev_null, test_env, &o, &r), EACCES);
        ASSERT_ERROR(spawn_run_full(missing, test_env, NULL, &r), EINVAL);
        ASSERT_EQ(r.exit_status, 12345);
        ASSERT_NULL(r.output);
        ASSERT_NULL(r.err_output);
}

TEST(separate_child_setup) {
        _cleanup_(spawn_result_done) SpawnResult r = {};

        /* Same child setup as spawn_run(): stdin empty, cwd "/", only fds 0-2 (ls opens one more for
         * the directory it lists). */
        ASSERT_OK(run_sh_separate("pwd; cat; ls /proc/self/fd | wc -l >&2", SEC(10), OUTPUT_CAP, &r));
        ASSERT_EQ(r.exit_status, 0);
        ASSERT_STREQ(r.output, "/\n");
        ASSERT_STREQ(strstrip(r.err_output), "4");
}

TEST(exec_errors) {
        _cleanup_free_ char *plain = strjoin(tmpdir, "/plain"), *junk = strjoin(tmpdir, "/junk");
        char *const missing[] = { "certkeeper-no-such-program", NULL };
        char *const missing_abs[] = { "/nonexistent-certkeeper/prog", NULL };
        char *const not_exec[] = { plain, NULL };
        char *const not_exec_path[] = { "plain", NULL };
        char *const no_format[] = { junk, NULL };
        _cleanup_free_ char *path_env = strjoin("PATH=", tmpdir);
        char *const env_tmp[] = { path_env, NULL };
        SpawnResult r = { .exit_status = 12345 };

        ASSERT_OK(fs_write_atomic(plain, "#!/bin/sh\nexit 0\n", 17, &FILE_ATTRS(0644)));
        ASSERT_OK(fs_write_atomic(junk, "\x01\x02\x03\x04junk", 8, &FILE_ATTRS(0755)));

        ASSERT_ERROR(spawn_run(missing, test_env, SEC(10), OUTPUT_CAP, &r), ENOENT);
        ASSERT_ERROR(spawn_run(missing_abs, test_env, SEC(10), OUTPUT_CAP, &r), ENOENT);
        ASSERT_ERROR(spawn_run(not_exec, test_env, SEC(10), OUTPUT_CAP, &r), EACCES);
        ASSERT_ERROR(spawn_run(not_exec_path, env_tmp, SEC(10), OUTPUT_CAP, &r), EACCES);
        ASSERT_ERROR(spawn_run(no_format, test_env, SEC(10), OUTPUT_CAP, &r), ENOEXEC);
        /* Not written on failure. */
        ASSERT_EQ(r.exit_status, 12345);
        ASSERT_NULL(r.output);
}

TEST(path_lookup_uses_child_env) {
        _cleanup_(spawn_result_done) SpawnResult r = {};
        _cleanup_free_ char *prog = strjoin(tmpdir, "/certkeeper-test-prog"), *path_env = NULL;
        char *const argv[] = { "certkeeper-test-prog", NULL };
        static const char script[] = "#!/bin/sh\necho found\n";

        ASSERT_OK(fs_write_atomic(prog, script, strlen(script), &FILE_ATTRS(0755)));
        path_env = strjoin("PATH=/nonexistent:", tmpdir, ":/usr/bin:/bin");
        {
                char *const env[] = { path_env, NULL };

                ASSERT_OK(spawn_run(argv, env, SEC(10), OUTPUT_CAP, &r));
        }
        ASSERT_EQ(r.exit_status, 0);
        ASSERT_STREQ(r.output, "found\n");
}

TEST(env_scrubbed) {
        _cleanup_(spawn_result_done) SpawnResult r = {};
        char *const argv[] = { "env", NULL };
        char *const env[] = { "FOO=bar", "PATH=/usr/bin:/bin", NULL };

        ASSERT_TRUE(setenv("CERTKEEPER_TEST_SECRET", "leak", 1) == 0);
        ASSERT_OK(spawn_run(argv, env, SEC(10), OUTPUT_CAP, &r));
        ASSERT_TRUE(unsetenv("CERTKEEPER_TEST_SECRET") == 0);
        ASSERT_EQ(r.exit_status, 0);
        ASSERT_STREQ(r.output, "FOO=bar\nPATH=/usr/bin:/bin\n");
}

TEST(child_setup) {
        _cleanup_(spawn_result_done) SpawnResult r = {};
        _cleanup_free_ char *script = NULL;
        char fdbuf[16];
        int leaked;

        /* An fd without O_CLOEXEC must still not reach the child. */
        leaked = open("/dev/null", O_RDONLY);
        ASSERT_TRUE(leaked >= 3);
        (void) snprintf(fdbuf, sizeof(fdbuf), "%d", leaked);

        script = strjoin("pwd; cat; "
                         "if [ -e /proc/self/fd/", fdbuf, " ]; then echo leaked; else echo closed; fi; "
                         "read pid comm state ppid pgrp session rest < /proc/self/stat; "
                         "[ \"$pgrp\" = $$ ] && [ \"$session\" = $$ ] && echo own-group");
        ASSERT_OK(run_sh(script, SEC(10), OUTPUT_CAP, &r));
        close(leaked);
        ASSERT_EQ(r.exit_status, 0);
        /* cwd is "/", stdin is empty (/dev/null), fds closed, new session and group. */
        ASSERT_STREQ(r.output, "/\nclosed\nown-group\n");
}

TEST(sigchld_blocked_signalfd) {
        _cleanup_(spawn_result_done) SpawnResult r = {};
        _cleanup_close_ int sfd = -EBADF;
        sigset_t mask, old;

        /* Like the daemon: SIGCHLD blocked and read through a signalfd. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        ASSERT_TRUE(sigprocmask(SIG_BLOCK, &mask, &old) == 0);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        ASSERT_TRUE(sfd >= 0);

        /* The child starts with nothing blocked. */
        ASSERT_OK(run_sh("grep SigBlk /proc/self/status; exit 4", SEC(10), OUTPUT_CAP, &r));
        ASSERT_EQ(r.exit_status, 4);
        ASSERT_STREQ(r.output, "SigBlk:\t0000000000000000\n");

        ASSERT_TRUE(sigprocmask(SIG_SETMASK, &old, NULL) == 0);
}

static volatile sig_atomic_t usr1_seen;

static void on_usr1(int sig) {
        usr1_seen = sig;
}

TEST(signal_state) {
        _cleanup_(spawn_result_done) SpawnResult r = {};
        /* cat, which sets no handler of its own (grep catches SIGSEGV). */
        char *const argv[] = { "cat", "/proc/self/status", NULL };
        struct sigaction sa = { .sa_handler = on_usr1 }, old_usr1, old_pipe, now;
        sigset_t mask, old_mask, cur;

        /* The child runs in the parent's memory until it execs, with every signal blocked: a handler
         * of the parent, an ignored signal or a blocked one must not reach the program, and the
         * parent's own handlers and mask must be as they were afterwards. */
        ASSERT_TRUE(sigaction(SIGUSR1, &sa, &old_usr1) == 0);
        sa.sa_handler = SIG_IGN;
        ASSERT_TRUE(sigaction(SIGPIPE, &sa, &old_pipe) == 0);
        sigemptyset(&mask);
        sigaddset(&mask, SIGUSR2);
        ASSERT_TRUE(sigprocmask(SIG_BLOCK, &mask, &old_mask) == 0);

        ASSERT_OK(spawn_run(argv, test_env, SEC(10), OUTPUT_CAP, &r));
        ASSERT_EQ(r.exit_status, 0);
        {
                const char *blk = strstr(r.output, "\nSigBlk:\t"), *ign = strstr(r.output, "\nSigIgn:\t"),
                           *cgt = strstr(r.output, "\nSigCgt:\t");
                unsigned long long b, i, c;

                if (!blk || !ign || !cgt)
                        fprintf(stderr, "status of the child:\n%s\n", r.output);
                ASSERT_TRUE(blk && ign && cgt);
                b = strtoull(blk + 9, NULL, 16);
                i = strtoull(ign + 9, NULL, 16);
                c = strtoull(cgt + 9, NULL, 16);
                if (b != 0 || c != 0 || (i & (1ULL << (SIGPIPE - 1))))
                        fprintf(stderr, "SigBlk %llx SigIgn %llx SigCgt %llx\n", b, i, c);
                /* Nothing blocked, nothing caught, and the parent's ignored SIGPIPE not passed on. */
                ASSERT_EQ(b, 0ULL);
                ASSERT_EQ(c, 0ULL);
                ASSERT_EQ(i & (1ULL << (SIGPIPE - 1)), 0ULL);
        }

        ASSERT_TRUE(sigprocmask(SIG_SETMASK, NULL, &cur) == 0);
        ASSERT_TRUE(sigismember(&cur, SIGUSR2) == 1);
        ASSERT_TRUE(sigismember(&cur, SIGUSR1) == 0);
        ASSERT_TRUE(sigismember(&cur, SIGTERM) == 0);
        ASSERT_TRUE(sigaction(SIGUSR1, NULL, &now) == 0);
        ASSERT_TRUE(now.sa_handler == on_usr1);
        ASSERT_TRUE(raise(SIGUSR1) == 0);
        ASSERT_EQ(usr1_seen, SIGUSR1);

        ASSERT_TRUE(sigprocmask(SIG_SETMASK, &old_mask, NULL) == 0);
        ASSERT_TRUE(sigaction(SIGPIPE, &old_pipe, NULL) == 0);
        ASSERT_TRUE(sigaction(SIGUSR1, &old_usr1, NULL) == 0);
}

TEST(many_spawns_no_fd_leak) {
        char *const argv[] = { "true", NULL };
        int before, after;

        /* Each run opens /dev/null and three pipes in the parent; none may stay open. */
        before = fcntl(0, F_DUPFD_CLOEXEC, 3);
        ASSERT_TRUE(before >= 3);
        close(before);
        for (int i = 0; i < 200; i++) {
                _cleanup_(spawn_result_done) SpawnResult r = {};

                ASSERT_OK(spawn_run(argv, test_env, SEC(10), OUTPUT_CAP, &r));
                ASSERT_EQ(r.exit_status, 0);
        }
        after = fcntl(0, F_DUPFD_CLOEXEC, 3);
        ASSERT_EQ(after, before);
        close(after);
}

TEST(describe) {
        SpawnResult r = { .exit_status = 0 };
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

        ASSERT_OK(spawn_result_describe(&r, &a));
        ASSERT_STREQ(a, "exited with status 0");

        r = (SpawnResult) { .signaled = true, .term_signal = SIGKILL };
        ASSERT_OK(spawn_result_describe(&r, &b));
        ASSERT_STREQ(b, "killed by signal SIGKILL");

        r = (SpawnResult) { .timed_out = true, .signaled = true, .term_signal = SIGTERM, .duration = SEC(30) + 4000 };
        ASSERT_OK(spawn_result_describe(&r, &c));
        ASSERT_STREQ(c, "timed out after 30s");

        r = (SpawnResult) { .timed_out = true, .duration = MSEC(250) };
        ASSERT_OK(spawn_result_describe(&r, &d));
        ASSERT_STREQ(d, "timed out after 250ms");
}

TEST(clean_env) {
        _cleanup_strv_free_ char **e = NULL, **x = NULL, **bad = NULL;
        char *const extra[] = { "CERTKEEPER_NAME=www", "LANG=de_DE.UTF-8", NULL };
        char *const invalid[] = { "NOEQUALS", NULL };
        _cleanup_free_ char *joined = NULL;

        e = spawn_clean_env(NULL);
        ASSERT_NOT_NULL(e);
        joined = strv_join(e, " ");
        ASSERT_STREQ(joined, "PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin HOME=/ "
                             "SHELL=/bin/sh TERM=dumb LANG=C.UTF-8");

        x = spawn_clean_env(extra);
        ASSERT_NOT_NULL(x);
        ASSERT_EQ(strv_length(x), 6);
        ASSERT_TRUE(strv_contains(x, "CERTKEEPER_NAME=www"));
        ASSERT_TRUE(strv_contains(x, "LANG=de_DE.UTF-8"));
        ASSERT_FALSE(strv_contains(x, "LANG=C.UTF-8"));

        bad = spawn_clean_env(invalid);
        ASSERT_NULL(bad);
}

TEST(clean_env_run) {
        _cleanup_(spawn_result_done) SpawnResult r = {};
        _cleanup_strv_free_ char **e = spawn_clean_env(NULL);
        char *const argv[] = { "sh", "-c", "echo \"$HOME $SHELL $TERM $LANG\"; pwd", NULL };

        ASSERT_OK(spawn_run(argv, e, SEC(10), OUTPUT_CAP, &r));
        ASSERT_STREQ(r.output, "/ /bin/sh dumb C.UTF-8\n/\n");
}

TEST_MAIN();
