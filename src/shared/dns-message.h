/* SPDX-License-Identifier: MIT */
#pragma once

/* DNS messages on the wire (RFC 1035), just what dns-01 needs: queries (SOA, NS, A, AAAA, TXT),
 * RFC 2136 UPDATE messages that add or delete one TXT record, and a parser for the answers.
 *
 * Everything a server sends is untrusted: the parser checks every length against the message,
 * follows name compression only backwards and at most DNS_POINTERS_MAX times, caps names at 255
 * octets on the wire and the number of records at DNS_RECORDS_MAX, and never reads past the end.
 * Names come out in presentation form, with a final dot, and with any octet that is not a letter,
 * digit, '-', '_' or '*' as \DDD, so that they are safe to print and compare. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

#define DNS_MESSAGE_MAX 65535U
#define DNS_NAME_WIRE_MAX 255U
#define DNS_NAME_TEXT_MAX (4U * DNS_NAME_WIRE_MAX + 2U) /* every octet as \DDD, plus '.' and NUL */
#define DNS_RECORDS_MAX 256U
#define DNS_POINTERS_MAX 64U
#define DNS_HEADER_SIZE 12U

enum {
        DNS_TYPE_A = 1,
        DNS_TYPE_NS = 2,
        DNS_TYPE_CNAME = 5,
        DNS_TYPE_SOA = 6,
        DNS_TYPE_TXT = 16,
        DNS_TYPE_AAAA = 28,
        DNS_TYPE_TSIG = 250,
};

enum {
        DNS_CLASS_IN = 1,
        DNS_CLASS_NONE = 254,
        DNS_CLASS_ANY = 255,
};

enum {
        DNS_OPCODE_QUERY = 0,
        DNS_OPCODE_UPDATE = 5,
};

enum {
        DNS_RCODE_NOERROR = 0,
        DNS_RCODE_FORMERR = 1,
        DNS_RCODE_SERVFAIL = 2,
        DNS_RCODE_NXDOMAIN = 3,
        DNS_RCODE_NOTIMP = 4,
        DNS_RCODE_REFUSED = 5,
        DNS_RCODE_YXDOMAIN = 6,
        DNS_RCODE_YXRRSET = 7,
        DNS_RCODE_NXRRSET = 8,
        DNS_RCODE_NOTAUTH = 9,
        DNS_RCODE_NOTZONE = 10,
        /* TSIG errors (RFC 8945), in the TSIG record's error field */
        DNS_RCODE_BADSIG = 16,
        DNS_RCODE_BADKEY = 17,
        DNS_RCODE_BADTIME = 18,
        DNS_RCODE_BADTRUNC = 22,
};

/* "NOERROR", "REFUSED", "BADSIG", ...; NULL for a code without a name. */
const char *dns_rcode_to_string(int rcode);

#define DNS_FLAG_QR 0x8000U
#define DNS_FLAG_AA 0x0400U
#define DNS_FLAG_TC 0x0200U
#define DNS_FLAG_RD 0x0100U

/* A message being built: data[0..len), at most DNS_MESSAGE_MAX octets. */
typedef struct DnsPacket {
        uint8_t *data;
        size_t len;
        size_t allocated;
} DnsPacket;

DnsPacket *dns_packet_free(DnsPacket *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(DnsPacket *, dns_packet_free);
int dns_packet_append(DnsPacket *p, const void *data, size_t len) _warn_unused_result_;
int dns_packet_append_u16(DnsPacket *p, uint16_t v) _warn_unused_result_;
int dns_packet_append_u32(DnsPacket *p, uint32_t v) _warn_unused_result_;
/* Appends a name in canonical wire form: lower case, uncompressed. */
int dns_packet_append_name(DnsPacket *p, const char *name) _warn_unused_result_;

/* A presentation name ("www.example.com" or "www.example.com.", "." for the root) to canonical
 * wire form (lower case) in out (DNS_NAME_WIRE_MAX octets). -EINVAL for an empty label, a label
 * over 63 octets, a name over 255 octets, escapes, or characters that have no place in a host
 * name (anything but letters, digits, '-', '_' and '*'). */
int dns_name_to_wire(const char *name, uint8_t *out, size_t *ret_len) _warn_unused_result_;

/* Whether two presentation names are the same, ignoring case and a final dot. */
bool dns_name_equal(const char *a, const char *b);

/* The parent of a presentation name: "b.c." for "a.b.c.", NULL for the root. Points into name. */
const char *dns_name_parent(const char *name);

/* A query for name/type, class IN, with RD set when recursion_desired. */
int dns_message_new_query(uint16_t id, const char *name, uint16_t type, bool recursion_desired,
                          DnsPacket **ret) _warn_unused_result_;

/* An RFC 2136 UPDATE of zone: add (ttl) or delete (RFC 2136 2.5.4: class NONE, TTL 0) exactly the
 * TXT record name/value, one character-string of at most 255 octets. */
int dns_message_new_txt_update(uint16_t id, const char *zone, const char *name, const char *value, bool add,
                               uint32_t ttl, DnsPacket **ret) _warn_unused_result_;

typedef struct DnsRecord {
        char name[DNS_NAME_TEXT_MAX];
        uint16_t type, class;
        uint32_t ttl;
        size_t offset;       /* where the record starts in the message */
        size_t rdata_offset; /* where its rdata starts */
        uint16_t rdata_len;
} DnsRecord;

typedef enum DnsSection {
        DNS_SECTION_ANSWER,
        DNS_SECTION_AUTHORITY,
        DNS_SECTION_ADDITIONAL,
        _DNS_SECTION_MAX,
} DnsSection;

typedef struct DnsMessage {
        uint8_t *data; /* a copy of the message */
        size_t size;
        uint16_t id, flags;
        int opcode, rcode;
        bool has_question;
        char qname[DNS_NAME_TEXT_MAX];
        uint16_t qtype, qclass;
        size_t n_records;
        size_t n_section[_DNS_SECTION_MAX];
        DnsRecord *records; /* answer, then authority, then additional */
} DnsMessage;

DnsMessage *dns_message_free(DnsMessage *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(DnsMessage *, dns_message_free);

/* Parses a whole message. -EBADMSG for anything malformed (truncated, bad name, bad pointer, more
 * than one question, trailing garbage), -E2BIG over DNS_RECORDS_MAX records. A truncated (TC) UDP
 * answer is parsed as far as it holds; the caller sees the flag and asks again over TCP. */
int dns_message_parse(const uint8_t *data, size_t size, DnsMessage **ret) _warn_unused_result_;

/* The records of a section: *ret_first indexes m->records; returns the count. */
size_t dns_message_section(const DnsMessage *m, DnsSection s, const DnsRecord **ret_first);

/* Reads the (possibly compressed) name at *offset, which must lie before limit (<= m->size), into
 * out (DNS_NAME_TEXT_MAX) and advances *offset past it. */
int dns_message_read_name(const DnsMessage *m, size_t limit, size_t *offset, char *out) _warn_unused_result_;

/* The TXT rdata of r: its character-strings joined. -EBADMSG if they overrun the rdata. */
int dns_record_txt(const DnsMessage *m, const DnsRecord *r, char **ret, size_t *ret_len) _warn_unused_result_;
/* The name in an NS or CNAME record, or the MNAME of an SOA, in presentation form. */
int dns_record_name(const DnsMessage *m, const DnsRecord *r, char *out) _warn_unused_result_;
/* The address in an A or AAAA record, as text. */
int dns_record_address(const DnsMessage *m, const DnsRecord *r, char *out, size_t out_size) _warn_unused_result_;
