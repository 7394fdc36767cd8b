/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "tests.h"

/* log_struct() speaks the journal's native protocol: a datagram of fields, with the binary length
 * form for values that hold a newline. A socket of our own stands in for journald. */
TEST(journal_datagram) {
        char dir[] = "/tmp/test-log-XXXXXX", path[128], buf[4096];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const LogField fields[] = {
                { "CERTKEEPER_EVENT_ID", "1001" },
                { "CERTKEEPER_NICKNAME", "web" },
                { "CERTKEEPER_SKIPPED", NULL },
                { "CERTKEEPER_MULTI", "a\nb" },
        };
        const char binary[] = "CERTKEEPER_MULTI\n\x03\0\0\0\0\0\0\0a\nb\n";
        ssize_t n;
        int fd;

        ASSERT_NOT_NULL(mkdtemp(dir));
        (void) snprintf(path, sizeof(path), "%s/socket", dir);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(bind(fd, (struct sockaddr *) &sa, sizeof(sa)));

        log_open("test-log", LOG_TARGET_JOURNAL, true);
        log_set_journal_socket(path);
        ASSERT_EQ(log_struct(LOG_NOTICE, "da803ff7122d4d64a6cf549546f0cfa8", fields, ELEMENTSOF(fields),
                             "Certificate %s replaced.", "x"),
                  1);

        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        ASSERT_TRUE(n > 0);
        const char text[] = "MESSAGE=Certificate x replaced.\nPRIORITY=5\nSYSLOG_IDENTIFIER=test-log\n"
                            "MESSAGE_ID=da803ff7122d4d64a6cf549546f0cfa8\nCERTKEEPER_EVENT_ID=1001\n"
                            "CERTKEEPER_NICKNAME=web\n";
        ASSERT_EQ((size_t) n, strlen(text) + sizeof(binary) - 1);
        ASSERT_TRUE(memcmp(buf, text, strlen(text)) == 0);
        ASSERT_TRUE(memcmp(buf + strlen(text), binary, sizeof(binary) - 1) == 0);

        /* Above the maximum level: nothing is sent. */
        log_set_max_level(LOG_WARNING);
        ASSERT_EQ(log_struct(LOG_NOTICE, "da803ff7122d4d64a6cf549546f0cfa8", NULL, 0, "quiet"), 0);
        ASSERT_TRUE(recv(fd, buf, sizeof(buf), MSG_DONTWAIT) < 0);
        log_set_max_level(LOG_INFO);

        /* No journal there: the ordinary line, with the MESSAGE_ID in brackets. */
        ASSERT_OK(close(fd));
        ASSERT_OK(unlink(path));
        ASSERT_EQ(log_struct(LOG_NOTICE, "da803ff7122d4d64a6cf549546f0cfa8", fields, ELEMENTSOF(fields), "fallback"),
                  0);
        log_set_journal_socket(NULL);
        ASSERT_OK(rmdir(dir));
}

TEST_MAIN()
