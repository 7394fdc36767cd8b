/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dns-client.h"
#include "string-util.h"
#include "tests.h"

TEST(server_parse) {
        DnsServer s;

        ASSERT_OK(dns_server_parse("127.0.0.1:5353", 53, &s));
        ASSERT_STREQ(s.text, "127.0.0.1:5353");
        ASSERT_OK(dns_server_parse("127.0.0.1", 53, &s));
        ASSERT_STREQ(s.text, "127.0.0.1:53");
        ASSERT_OK(dns_server_parse("[::1]:5353", 53, &s));
        ASSERT_STREQ(s.text, "[::1]:5353");
        ASSERT_OK(dns_server_parse("::1", 53, &s));
        ASSERT_STREQ(s.text, "[::1]:53");
        ASSERT_OK(dns_server_parse("[2001:db8::1]", 53, &s));
        ASSERT_STREQ(s.text, "[2001:db8::1]:53");

        ASSERT_ERROR(dns_server_parse("dns.example.test:53", 53, &s), EINVAL);
        ASSERT_ERROR(dns_server_parse("127.0.0.1:0", 53, &s), EINVAL);
        ASSERT_ERROR(dns_server_parse("127.0.0.1:65536", 53, &s), EINVAL);
        ASSERT_ERROR(dns_server_parse("127.0.0.1:", 53, &s), EINVAL);
        ASSERT_ERROR(dns_server_parse("[::1]x", 53, &s), EINVAL);
        ASSERT_ERROR(dns_server_parse("[::1", 53, &s), EINVAL);
        ASSERT_ERROR(dns_server_parse("", 53, &s), EINVAL);
}

TEST(resolv_conf) {
        char path[] = "/tmp/test-dns-client.XXXXXX";
        DnsServer s;
        FILE *f;
        int fd;

        fd = mkstemp(path);
        ASSERT_TRUE(fd >= 0);
        f = fdopen(fd, "w");
        ASSERT_NOT_NULL(f);
        fputs("# comment\nsearch example.test\nnameserver resolver.example.test\n"
              "  nameserver\t192.0.2.53  # the first numeric one\nnameserver 192.0.2.54\n",
              f);
        fclose(f);
        ASSERT_OK(dns_server_from_resolv_conf(path, &s));
        ASSERT_STREQ(s.text, "192.0.2.53:53");

        f = fopen(path, "we");
        ASSERT_NOT_NULL(f);
        fputs("nameservers 192.0.2.1\noptions edns0\n", f);
        fclose(f);
        ASSERT_ERROR(dns_server_from_resolv_conf(path, &s), ENOENT);
        ASSERT_TRUE(unlink(path) == 0);
        ASSERT_ERROR(dns_server_from_resolv_conf(path, &s), ENOENT);
}

/* A UDP "server" on 127.0.0.1 in a child process: it answers the first question with noise (a
 * message with another id, then bytes that are no message), then with a proper answer. */
static pid_t fake_server(DnsServer *ret) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t al = sizeof(a);
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        char text[32];
        pid_t pid;

        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(bind(fd, (struct sockaddr *) &a, sizeof(a)) == 0);
        ASSERT_TRUE(getsockname(fd, (struct sockaddr *) &a, &al) == 0);
        (void) snprintf(text, sizeof(text), "127.0.0.1:%u", ntohs(a.sin_port));
        ASSERT_OK(dns_server_parse(text, 53, ret));
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                uint8_t q[512], noise[512];
                struct sockaddr_storage from;
                socklen_t fl = sizeof(from);
                ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *) &from, &fl);

                if (n < 12)
                        _exit(1);
                memcpy(noise, q, (size_t) n);
                noise[0] ^= 0xff; /* another id */
                noise[2] |= 0x80;
                (void) sendto(fd, noise, (size_t) n, 0, (struct sockaddr *) &from, fl);
                (void) sendto(fd, "junk", 4, 0, (struct sockaddr *) &from, fl);
                q[2] |= 0x84; /* QR, AA */
                q[3] = 3;     /* NXDOMAIN */
                (void) sendto(fd, q, (size_t) n, 0, (struct sockaddr *) &from, fl);
                _exit(0);
        }
        close(fd);
        return pid;
}

TEST(exchange) {
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        _cleanup_free_ char *err = NULL;
        DnsServer s;
        int status;
        pid_t pid = fake_server(&s);

        ASSERT_OK(dns_query(&s, "_acme-challenge.example.test", DNS_TYPE_TXT,
                            now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC, &m, &err));
        ASSERT_EQ(m->rcode, DNS_RCODE_NXDOMAIN);
        ASSERT_STREQ(m->qname, "_acme-challenge.example.test.");
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(no_answer) {
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        _cleanup_free_ char *err = NULL;
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t al = sizeof(a);
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        char text[32];
        DnsServer s;
        usec_t start = now_usec(CLOCK_MONOTONIC);

        /* bound, never read: the questions go unanswered */
        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(bind(fd, (struct sockaddr *) &a, sizeof(a)) == 0);
        ASSERT_TRUE(getsockname(fd, (struct sockaddr *) &a, &al) == 0);
        (void) snprintf(text, sizeof(text), "127.0.0.1:%u", ntohs(a.sin_port));
        ASSERT_OK(dns_server_parse(text, 53, &s));
        ASSERT_ERROR(dns_query(&s, "example.test", DNS_TYPE_SOA, start + 1500 * USEC_PER_MSEC, &m, &err), ETIMEDOUT);
        ASSERT_TRUE(now_usec(CLOCK_MONOTONIC) - start >= 1400 * USEC_PER_MSEC);
        ASSERT_TRUE(strstr(err, text) != NULL);
        ASSERT_TRUE(strstr(err, "no answer in time") != NULL);
        close(fd);

        /* nobody on the port: refused at once */
        err = mfree(err);
        ASSERT_ERROR(dns_query(&s, "example.test", DNS_TYPE_SOA, now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC, &m,
                               &err),
                     ECONNREFUSED);
        ASSERT_TRUE(strstr(err, "connection refused") != NULL);
}

TEST_MAIN();
