/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs-util.h"
#include "string-util.h"
#include "tests.h"

static char tmpdir[] = "/tmp/test-fs-util-XXXXXX";

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

__attribute__((constructor)) static void setup(void) {
        /* A restrictive umask must not change the modes: they are set explicitly. */
        umask(077);
        ASSERT_NOT_NULL(mkdtemp(tmpdir));
}

__attribute__((destructor)) static void cleanup(void) {
        ASSERT_TRUE(nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

static char *tmp_path(const char *name) {
        char *p = strjoin(tmpdir, "/", name);

        ASSERT_NOT_NULL(p);
        return p;
}

static unsigned count_entries(const char *dir, const char *prefix) {
        DIR *d = opendir(dir);
        struct dirent *de;
        unsigned n = 0;

        ASSERT_NOT_NULL(d);
        while ((de = readdir(d)))
                if (startswith(de->d_name, prefix))
                        n++;
        closedir(d);
        return n;
}

static mode_t file_mode(const char *path) {
        struct stat st;

        ASSERT_TRUE(stat(path, &st) == 0);
        return st.st_mode & 07777;
}

TEST(mkdir_p) {
        _cleanup_free_ char *p = tmp_path("a/b//c/"), *f = tmp_path("file"), *under = tmp_path("file/x");
        struct stat st;

        ASSERT_OK(fs_mkdir_p(p, 0750));
        ASSERT_TRUE(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
        ASSERT_OK(fs_mkdir_p(p, 0750)); /* idempotent */

        ASSERT_OK(fs_write_atomic(f, "x", 1, NULL));
        ASSERT_ERROR(fs_mkdir_p(f, 0700), ENOTDIR);
        ASSERT_ERROR(fs_mkdir_p(under, 0700), ENOTDIR);
        ASSERT_ERROR(fs_mkdir_p("", 0700), EINVAL);
}

TEST(read_file) {
        _cleanup_free_ char *p = tmp_path("read"), *missing = tmp_path("missing");
        _cleanup_free_ char *data = NULL, *big = NULL;
        char *none = NULL;
        size_t len = 0;

        big = malloc(100000);
        ASSERT_NOT_NULL(big);
        for (size_t i = 0; i < 100000; i++)
                big[i] = (char) ('a' + i % 26);

        ASSERT_OK(fs_write_atomic(p, big, 100000, NULL));
        ASSERT_OK(fs_read_file(p, 100000, &data, &len));
        ASSERT_EQ(len, 100000);
        ASSERT_TRUE(memcmp(data, big, 100000) == 0);
        ASSERT_EQ(data[100000], '\0');

        data = mfree(data);
        ASSERT_OK(fs_read_file(p, SIZE_MAX, &data, &len)); /* "no limit" must not overflow */
        ASSERT_EQ(len, 100000);

        ASSERT_ERROR(fs_read_file(p, 99999, &none, &len), EFBIG);
        ASSERT_ERROR(fs_read_file(missing, 10, &none, &len), ENOENT);
        ASSERT_ERROR(fs_read_file(tmpdir, 10, &none, &len), EISDIR);
        ASSERT_NULL(none);
}

TEST(read_file_nonregular) {
        /* /proc files report size 0: reading must not rely on st_size. */
        _cleanup_free_ char *data = NULL;
        size_t len = 0;

        ASSERT_OK(fs_read_file("/proc/self/status", 1024 * 1024, &data, &len));
        ASSERT_TRUE(len > 10);
        ASSERT_TRUE(startswith(data, "Name:"));
}

TEST(read_password_file) {
        _cleanup_free_ char *p = tmp_path("pw"), *missing = tmp_path("no-pw"), *big = NULL;
        char *pw = NULL;

        ASSERT_OK(fs_write_atomic(p, "s3cret pass\r\nsecond line\n", 25, NULL));
        ASSERT_OK(fs_read_password_file(p, &pw));
        ASSERT_STREQ(pw, "s3cret pass");
        erase_freep(&pw);
        ASSERT_NULL(pw);

        ASSERT_OK(fs_write_atomic(p, "only", 4, NULL));
        ASSERT_OK(fs_read_password_file(p, &pw));
        ASSERT_STREQ(pw, "only");
        erase_freep(&pw);

        ASSERT_OK(fs_write_atomic(p, "\nsecond line\n", 13, NULL));
        ASSERT_ERROR(fs_read_password_file(p, &pw), ENODATA);
        ASSERT_OK(fs_write_atomic(p, "", 0, NULL));
        ASSERT_ERROR(fs_read_password_file(p, &pw), ENODATA);
        ASSERT_ERROR(fs_read_password_file(missing, &pw), ENOENT);
        big = calloc(FS_PASSWORD_FILE_MAX + 1, 1);
        ASSERT_NOT_NULL(big);
        memset(big, 'a', FS_PASSWORD_FILE_MAX);
        ASSERT_OK(fs_write_atomic(p, big, FS_PASSWORD_FILE_MAX + 1, NULL));
        ASSERT_ERROR(fs_read_password_file(p, &pw), EFBIG);
        ASSERT_NULL(pw);
}

TEST(write_atomic) {
        _cleanup_free_ char *p = tmp_path("atomic.pem"), *data = NULL;
        FileAttrs attrs = FILE_ATTRS(0640);

        ASSERT_OK(fs_write_atomic(p, "first", 5, &attrs));
        ASSERT_OK(fs_read_file(p, 100, &data, NULL));
        ASSERT_STREQ(data, "first");
        ASSERT_EQ(file_mode(p), 0640);
        data = mfree(data);

        /* Replaces; the mode is the requested one, regardless of the umask. */
        attrs.mode = 0604;
        ASSERT_OK(fs_write_atomic(p, "second", 6, &attrs));
        ASSERT_OK(fs_read_file(p, 100, &data, NULL));
        ASSERT_STREQ(data, "second");
        ASSERT_EQ(file_mode(p), 0604);

        /* Default mode is private. */
        ASSERT_OK(fs_write_atomic(p, "", 0, NULL));
        ASSERT_EQ(file_mode(p), 0600);

        /* No temporary files left over. */
        ASSERT_EQ(count_entries(tmpdir, ".atomic.pem"), 0);
}

TEST(write_atomic_owner) {
        _cleanup_free_ char *p = tmp_path("owned");
        FileAttrs attrs = FILE_ATTRS(0600);
        struct stat st;

        /* Chowning to ourselves always works, root or not. */
        attrs.uid = getuid();
        attrs.gid = getgid();
        ASSERT_OK(fs_write_atomic(p, "x", 1, &attrs));
        ASSERT_TRUE(stat(p, &st) == 0);
        ASSERT_EQ(st.st_uid, getuid());
        ASSERT_EQ(st.st_gid, getgid());

        if (getuid() == 0) {
                attrs.uid = 4242;
                attrs.gid = 4343;
                ASSERT_OK(fs_write_atomic(p, "y", 1, &attrs));
                ASSERT_TRUE(stat(p, &st) == 0);
                ASSERT_EQ(st.st_uid, 4242);
                ASSERT_EQ(st.st_gid, 4343);
                ASSERT_EQ(st.st_mode & 07777, 0600);
        }
}

TEST(write_atomic_failure_cleans_up) {
        _cleanup_free_ char *dir = tmp_path("failing"), *p = NULL;

        /* Renaming a file over a non-empty directory fails: the temp file must go. */
        p = tmp_path("failing/sub");
        ASSERT_OK(fs_mkdir_p(p, 0700));
        ASSERT_TRUE(fs_write_atomic(dir, "x", 1, NULL) < 0);
        ASSERT_EQ(count_entries(tmpdir, ".failing"), 0);

        ASSERT_ERROR(fs_write_atomic("/nonexistent-dir-certkeeper/x", "x", 1, NULL), ENOENT);
}

TEST(stage_commit) {
        _cleanup_free_ char *p = tmp_path("staged.pem"), *staged = NULL, *data = NULL;
        FileAttrs attrs = FILE_ATTRS(0644);

        staged = fs_staged_path(p);
        ASSERT_NOT_NULL(staged);
        ASSERT_TRUE(endswith(staged, "/staged.pem" FS_STAGED_SUFFIX));

        ASSERT_ERROR(fs_commit_staged(p), ENOENT);

        ASSERT_OK(fs_write_atomic(p, "old", 3, &attrs));
        ASSERT_OK(fs_stage(p, "new", 3, &attrs));
        /* The target is untouched until the commit. */
        ASSERT_OK(fs_read_file(p, 100, &data, NULL));
        ASSERT_STREQ(data, "old");
        data = mfree(data);
        ASSERT_TRUE(fs_exists(staged));

        ASSERT_OK(fs_commit_staged(p));
        ASSERT_OK(fs_read_file(p, 100, &data, NULL));
        ASSERT_STREQ(data, "new");
        ASSERT_EQ(file_mode(p), 0644);
        ASSERT_FALSE(fs_exists(staged));
        ASSERT_ERROR(fs_commit_staged(p), ENOENT);
}

TEST(create_exclusive) {
        _cleanup_free_ char *p = tmp_path("key.pem"), *data = NULL;
        FileAttrs attrs = FILE_ATTRS(0400);

        ASSERT_OK(fs_create_exclusive(p, "secret", 6, &attrs));
        ASSERT_EQ(file_mode(p), 0400);
        ASSERT_ERROR(fs_create_exclusive(p, "other", 5, &attrs), EEXIST);
        ASSERT_OK(fs_read_file(p, 100, &data, NULL));
        ASSERT_STREQ(data, "secret");
        ASSERT_EQ(count_entries(tmpdir, ".key.pem"), 0);
}

TEST(create_exclusive_dangling_symlink) {
        _cleanup_free_ char *p = tmp_path("link.pem"), *target = tmp_path("elsewhere");

        /* A symlink at the target must not be followed to create a file somewhere else. */
        ASSERT_TRUE(symlink(target, p) == 0);
        ASSERT_ERROR(fs_create_exclusive(p, "secret", 6, NULL), EEXIST);
        ASSERT_FALSE(fs_exists(target));
        ASSERT_EQ(count_entries(tmpdir, ".link.pem"), 0);
}

TEST(archive) {
        _cleanup_free_ char *p = tmp_path("cert.pem"), *adir = tmp_path("archive/deep"), *a1 = NULL, *a2 = NULL,
                            *missing = tmp_path("missing.pem"), *data = NULL, *expected_prefix = NULL;
        char *none = NULL;
        struct stat st;

        ASSERT_EQ(fs_archive(missing, adir, "renewal", &none), 0);
        ASSERT_NULL(none);

        ASSERT_OK(fs_write_atomic(p, "v1", 2, &FILE_ATTRS(0640)));
        ASSERT_EQ(fs_archive(p, adir, "renewal", &a1), 1);
        ASSERT_EQ(fs_archive(p, adir, "renewal", &a2), 1);

        /* "<dir>/<prefix>-<YYYYmmddTHHMMSSZ>-<basename>" */
        expected_prefix = strjoin(adir, "/renewal-");
        ASSERT_TRUE(startswith(a1, expected_prefix));
        ASSERT_EQ(strlen(a1), strlen(expected_prefix) + strlen("20260101T000000Z-cert.pem"));
        ASSERT_EQ(a1[strlen(expected_prefix) + 8], 'T');
        ASSERT_EQ(a1[strlen(expected_prefix) + 15], 'Z');
        ASSERT_TRUE(endswith(a1, "Z-cert.pem"));
        ASSERT_TRUE(strcmp(a1, a2) != 0);

        ASSERT_OK(fs_read_file(a2, 100, &data, NULL));
        ASSERT_STREQ(data, "v1");
        ASSERT_EQ(file_mode(a1), 0640);
        ASSERT_EQ(file_mode(a2), 0640);
        ASSERT_TRUE(stat(adir, &st) == 0);
        ASSERT_EQ(st.st_mode & 07777, 0700);
        ASSERT_EQ(count_entries(adir, ".cert.pem"), 0);
        ASSERT_EQ(count_entries(adir, "renewal-"), 2);
}

TEST(check_writable) {
        _cleanup_free_ char *p = tmp_path("w/file"), *d = tmp_path("w"), *f = tmp_path("w/file/x");

        ASSERT_ERROR(fs_check_writable(p), ENOENT);
        ASSERT_OK(fs_mkdir_p(d, 0700));
        ASSERT_OK(fs_check_writable(p));
        ASSERT_OK(fs_write_atomic(p, "", 0, NULL));
        ASSERT_ERROR(fs_check_writable(f), ENOTDIR);
        ASSERT_ERROR(fs_check_writable(d), EISDIR);

        if (getuid() != 0) {
                ASSERT_TRUE(chmod(d, 0500) == 0);
                ASSERT_ERROR(fs_check_writable(p), EACCES);
                ASSERT_TRUE(chmod(d, 0700) == 0);
        }
}

TEST(path_absolute) {
        _cleanup_free_ char *a = NULL, *b = NULL, *cwd = getcwd(NULL, 0), *expected = NULL;

        ASSERT_OK(fs_path_absolute("/etc/x", &a));
        ASSERT_STREQ(a, "/etc/x");
        ASSERT_OK(fs_path_absolute("rel/y", &b));
        expected = strjoin(cwd, strcmp(cwd, "/") == 0 ? "" : "/", "rel/y");
        ASSERT_STREQ(b, expected);
        ASSERT_ERROR(fs_path_absolute("", &a), EINVAL);
}

TEST(exists_and_fsync_parent) {
        _cleanup_free_ char *p = tmp_path("e");

        ASSERT_FALSE(fs_exists(p));
        ASSERT_OK(fs_write_atomic(p, "", 0, NULL));
        ASSERT_TRUE(fs_exists(p));
        ASSERT_OK(fs_fsync_parent(p));
        ASSERT_OK(fs_fsync_parent("relative-name"));
        ASSERT_OK(fs_fsync_parent("/etc"));
        ASSERT_ERROR(fs_fsync_parent("/nonexistent-certkeeper/x"), ENOENT);
}

TEST_MAIN();
