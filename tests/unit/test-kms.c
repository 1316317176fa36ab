/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The DNS side of the kms layer: RFC 2782 ordering, zones, key files and
 * server arguments. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kms/dns.h"
#include "kms/kit.h"
#include "kms/publish.h"
#include "unit.h"

static struct disc_host
host(const char *t, unsigned prio, unsigned weight)
{
	struct disc_host h;

	memset(&h, 0, sizeof(h));
	snprintf(h.target, sizeof(h.target), "%s", t);
	h.priority = (uint16_t)prio;
	h.weight = (uint16_t)weight;
	h.port = 1688;
	return h;
}

static void
order_by_priority(void)
{
	struct disc_host v[4] = { host("c.", 20, 5), host("a.", 0, 0),
				  host("d.", 65535, 1), host("b.", 10, 100) };
	size_t o[4];
	uint64_t seed;

	for (seed = 0; seed < 50; seed++) {
		srv_order(v, 4, seed, o);
		CHECK_EQ(o[0], 1);
		CHECK_EQ(o[1], 3);
		CHECK_EQ(o[2], 0);
		CHECK_EQ(o[3], 2);
	}
}

/* Within one priority the first pick follows the weights (RFC 2782). */
static void
order_by_weight(void)
{
	struct disc_host v[4] = { host("x.", 1, 60), host("y.", 1, 30),
				  host("z.", 1, 10), host("w.", 1, 0) };
	unsigned first[4] = { 0 };
	size_t o[4], i, j;
	uint64_t seed;
	const unsigned n = 20000;

	for (seed = 0; seed < n; seed++) {
		srv_order(v, 4, seed, o);
		first[o[0]]++;
		/* Each index exactly once. */
		for (i = 0; i < 4; i++)
			for (j = i + 1; j < 4; j++)
				CHECK(o[i] != o[j]);
	}
	/* Expected shares 60/101, 30/101, 10/101 and 1/101 (weight 0 goes
	 * first in the list, and is picked when the draw is 0). */
	CHECK(first[0] > n * 56 / 101 && first[0] < n * 64 / 101);
	CHECK(first[1] > n * 27 / 101 && first[1] < n * 33 / 101);
	CHECK(first[2] > n * 8 / 101 && first[2] < n * 12 / 101);
	CHECK(first[3] > 0 && first[3] < n * 3 / 101);
}

static void
order_is_repeatable(void)
{
	struct disc_host v[5] = { host("a.", 0, 10), host("b.", 0, 10),
				  host("c.", 0, 10), host("d.", 0, 10),
				  host("e.", 0, 10) };
	/* The same records in another order, as another server may send. */
	struct disc_host w[5] = { v[3], v[1], v[4], v[0], v[2] };
	size_t o1[5], o2[5], i;
	bool differs = false;

	srv_order(v, 5, 1234, o1);
	srv_order(w, 5, 1234, o2);
	for (i = 0; i < 5; i++)
		CHECK_STR(v[o1[i]].target, w[o2[i]].target);
	srv_order(v, 5, 1235, o2);
	for (i = 0; i < 5; i++)
		differs |= o1[i] != o2[i];
	CHECK(differs);
	srv_order(v, 0, 1, o1);	/* no records: nothing to do */
	srv_order(v, 1, 1, o1);
	CHECK_EQ(o1[0], 0);
}

static void
zones(void)
{
	struct srv_set s = { NULL, 0 };
	struct kp_error err = KP_ERROR_INIT;

	CHECK(srv_in_zone("example.test", "example.test"));
	CHECK(srv_in_zone("Lab.Example.Test.", "example.test"));
	CHECK(srv_in_zone("lab.example.test", "example.test."));
	CHECK(!srv_in_zone("badexample.test", "example.test"));
	CHECK(!srv_in_zone("example.test", "lab.example.test"));
	CHECK(!srv_in_zone("test", "example.test"));

	CHECK(srv_common_zone(&s) == NULL);
	CHECK_EQ(srv_add(&s, "lab.example.test", "kms.example.test", 0, 0,
			 1688, 60, &err), 0);
	CHECK_EQ(srv_add(&s, "example.test.", "kms.example.test", 0, 0, 1688,
			 60, &err), 0);
	/* The same record again (case, trailing dot) is not added twice. */
	CHECK_EQ(srv_add(&s, "EXAMPLE.test", "kms.example.test.", 0, 0, 1688,
			 60, &err), 0);
	CHECK_EQ(s.n, 2);
	CHECK_STR(srv_common_zone(&s), "example.test");
	CHECK_EQ(srv_add(&s, "other.test", "kms.example.test", 0, 0, 1688, 60,
			 &err), 0);
	CHECK(srv_common_zone(&s) == NULL);
	CHECK_EQ(srv_add(&s, "x.test", "kms", 0, 0, 0, 60, &err), -1);
	CHECK_EQ(err.status, KP_ERR_INVALID);
	CHECK_EQ(srv_add(&s, "x.test", "k'ms", 0, 0, 1688, 60, &err), -1);
	CHECK_EQ(srv_add(&s, "x.test", "kms", 70000, 0, 1688, 60, &err), -1);
	srv_set_release(&s);
}

/* Write TEXT to a temporary file; returns its path (static). */
static const char *
keyfile(const char *text)
{
	static char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/kmsprep-unit-key.%d", getpid());
	f = fopen(path, "w");
	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
	return path;
}

static void
key_files(void)
{
	static const struct {
		const char *text;
		int ok;
	} cases[] = {
		{ "key \"lab-key\" {\n\talgorithm hmac-sha256;\n\tsecret "
		  "\"qFXFtnOa0pgBlGXsjVU+0J1v23u11JKDZf7LJCQ9aw0=\";\n};\n", 1 },
		{ "# comment\nkey lab-key { algorithm HMAC-SHA512; secret "
		  "\"qFXFtnOa0pgBlGXsjVU+0J1v23u11JKDZf7LJCQ9aw0=\"; };", 1 },
		{ "key \"k\" { algorithm hmac-md5; secret "
		  "\"qFXFtnOa0pgBlGXsjVU+0J1v23u11JKDZf7LJCQ9aw0=\"; };", 0 },
		{ "key \"k\" { algorithm hmac-sha1; secret "
		  "\"qFXFtnOa0pgBlGXsjVU+0J1v23u11JKDZf7LJCQ9aw0=\"; };", 0 },
		{ "key \"k\" { algorithm hmac-sha256; secret \"c2hvcnQ=\"; };",
		  0 },
		{ "key \"k\" { algorithm hmac-sha256; secret \"not base64!\"; };",
		  0 },
		{ "key \"k\" { algorithm hmac-sha256; secret \"unterminated",
		  0 },
		{ "key \"k\" { algorithm hmac-sha256; }; /* no secret", 0 },
		{ "key \"bad name\" { algorithm hmac-sha256; secret "
		  "\"qFXFtnOa0pgBlGXsjVU+0J1v23u11JKDZf7LJCQ9aw0=\"; };", 0 },
		{ "zone \"x\" { };", 0 },
		/* One key, each field once (issue 16). */
		{ "key a { algorithm hmac-sha256; secret "
		  "\"qFXFtnOa0pgBlGXsjVU+0J1v23u11JKDZf7LJCQ9aw0=\"; };\n"
		  "key b { algorithm hmac-sha256; secret "
		  "\"qFXFtnOa0pgBlGXsjVU+0J1v23u11JKDZf7LJCQ9aw0=\"; };\n", 0 },
		{ "key a { algorithm hmac-sha256; secret \"c2hvcnQ=\"; secret "
		  "\"qFXFtnOa0pgBlGXsjVU+0J1v23u11JKDZf7LJCQ9aw0=\"; };", 0 },
		{ "key a { algorithm hmac-sha256; algorithm hmac-sha512; secret "
		  "\"qFXFtnOa0pgBlGXsjVU+0J1v23u11JKDZf7LJCQ9aw0=\"; };", 0 },
		{ "key a { algorithm hmac-sha256; secret "
		  "\"qFXFtnOa0pgBlGXsjVU+0J1v23u11JKDZf7LJCQ9aw0=\"; }; junk", 0 },
		{ "", 0 },
	};
	struct tsig_key k;
	struct kp_error err = KP_ERROR_INIT;
	char longkey[800];
	size_t i;

	/* A secret too long for the reader is refused, not cut short (it
	 * would only fail later as BADSIG). */
	memset(longkey, 0, sizeof(longkey));
	strcpy(longkey, "key k { algorithm hmac-sha256; secret \"");
	memset(longkey + strlen(longkey), 'A', 600);
	strcat(longkey, "\"; };");
	CHECK_EQ(tsig_key_read(keyfile(longkey), &k, &err), -1);
	CHECK_EQ(err.status, KP_ERR_INPUT);
	tsig_key_release(&k);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = tsig_key_read(keyfile(cases[i].text), &k, &err);

		if ((r == 0) != cases[i].ok)
			printf("# case %zu: %s\n", i, err.msg);
		CHECK_EQ(r == 0, cases[i].ok);
		if (r == 0) {
			CHECK_STR(k.name, "lab-key.");
			CHECK(strncmp(k.algorithm, "hmac-sha", 8) == 0);
			CHECK_STR(k.secret,
				  "qFXFtnOa0pgBlGXsjVU+0J1v23u11JKDZf7LJCQ9aw0=");
		} else {
			CHECK_EQ(err.status, KP_ERR_INPUT);
			/* The message never carries the secret. */
			CHECK(strstr(err.msg, "qFXF") == NULL);
		}
		tsig_key_release(&k);
		CHECK(k.secret == NULL);
	}
	/* A NUL byte: C string readers would stop at it. */
	{
		static const char nul[] = "key a { algorithm hmac-sha256; "
			"secret \"qFXFtnOa0pgBlGXsjVU+0J1v23u11JKDZf7LJCQ9aw0="
			"\"; };\0key b { };";
		const char *path = keyfile("");
		FILE *f = fopen(path, "w");

		CHECK(f != NULL);
		fwrite(nul, 1, sizeof(nul) - 1, f);
		fclose(f);
		CHECK_EQ(tsig_key_read(path, &k, &err), -1);
		tsig_key_release(&k);
	}
	unlink(keyfile(""));
}

/* In a child (the flag is for life): is the process still dumpable after
 * reading a KMS host key, or a TSIG key? */
static int
dumpable_after(int which)
{
	struct kp_error err = KP_ERROR_INIT;
	struct tsig_key k;
	char key[30];
	int st;
	pid_t pid = fork();

	if (pid == 0) {
		/* Earlier tests in this process may have read keys. */
		if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 ||
		    prctl(PR_GET_DUMPABLE) != 1)
			_exit(2);
		/* The file is named after this child: remove it here. */
		const char *path = which == 0 ?
			keyfile("QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN\n") :
			keyfile("key a { algorithm hmac-sha256; secret "
				"\"qFXFtnOa0pgBlGXsjVU+0J1v23u11JKDZf7LJCQ9aw0="
				"\"; };");

		if (which == 0)
			kit_read_key(path, key, &err);
		else if (tsig_key_read(path, &k, &err) == 0)
			tsig_key_release(&k);
		unlink(path);
		_exit(prctl(PR_GET_DUMPABLE));
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void
no_core_dumps(void)
{
	CHECK_EQ(dumpable_after(0), 0);
	CHECK_EQ(dumpable_after(1), 0);
}

static void
servers(void)
{
	struct dns_server s;
	struct kp_error err = KP_ERROR_INIT;
	const struct sockaddr_in *in = (const void *)&s.addr;
	const struct sockaddr_in6 *in6 = (const void *)&s.addr;

	CHECK_EQ(dns_server_parse("127.0.0.1", 100, &s, &err), 0);
	CHECK_EQ(ntohs(in->sin_port), 53);
	CHECK_EQ(dns_server_parse("127.0.0.1:5353", 100, &s, &err), 0);
	CHECK_EQ(ntohs(in->sin_port), 5353);
	CHECK_EQ(dns_server_parse("[::1]:5300", 100, &s, &err), 0);
	CHECK_EQ(s.addr.ss_family, AF_INET6);
	CHECK_EQ(ntohs(in6->sin6_port), 5300);
	CHECK_EQ(dns_server_parse("::1", 100, &s, &err), 0);
	CHECK_EQ(ntohs(in6->sin6_port), 53);
	CHECK_EQ(dns_server_parse("127.0.0.1:0", 100, &s, &err), -1);
	CHECK_EQ(dns_server_parse("127.0.0.1:65536", 100, &s, &err), -1);
	CHECK_EQ(dns_server_parse(":53", 100, &s, &err), -1);
	CHECK_EQ(err.status, KP_ERR_INVALID);
	CHECK_EQ(dns_server_parse("[::1", 100, &s, &err), -1);
	CHECK_EQ(dns_server_parse("[::1]x", 100, &s, &err), -1);
	CHECK_EQ(dns_server_parse("a'b", 100, &s, &err), -1);
}

static void
rcode_names(void)
{
	char b[16];

	CHECK_STR(dns_rcode_name(5, b, sizeof(b)), "REFUSED");
	CHECK_STR(dns_rcode_name(9, b, sizeof(b)), "NOTAUTH");
	CHECK_STR(dns_rcode_name(16, b, sizeof(b)), "BADSIG");
	CHECK_STR(dns_rcode_name(17, b, sizeof(b)), "BADKEY");
	CHECK_STR(dns_rcode_name(4000, b, sizeof(b)), "RCODE4000");
}

/* A message with N TSIG records (root owner, no rdata) in its additional
 * section. */
static size_t
tsig_message(uint8_t *w, unsigned n)
{
	static const uint8_t tsig[] = { 0, 0x00, 0xfa, 0x00, 0xff,
					0, 0, 0, 0, 0, 0 };
	size_t len = 12;

	memset(w, 0, 12);
	w[2] = 0x80;	/* QR */
	w[11] = (uint8_t)n;
	for (unsigned i = 0; i < n; i++, len += sizeof(tsig))
		memcpy(w + len, tsig, sizeof(tsig));
	return len;
}

/* ldns_wire2pkt leaks all but the last TSIG record: refused before it. */
static void
wire_parse_tsig(void)
{
	uint8_t w[64];
	ldns_pkt *p = NULL;

	CHECK_EQ(dns_wire_parse(&p, w, tsig_message(w, 1)), LDNS_STATUS_OK);
	CHECK(p != NULL && ldns_pkt_tsig(p) != NULL);
	ldns_pkt_free(p);
	CHECK(dns_wire_parse(&p, w, tsig_message(w, 2)) != LDNS_STATUS_OK);
	CHECK(p == NULL);
	CHECK(dns_wire_parse(&p, w, 11) != LDNS_STATUS_OK);
	CHECK(dns_wire_parse(&p, w, tsig_message(w, 3) - 1) !=
	      LDNS_STATUS_OK);
}

static const struct unit_test tests[] = {
	TEST(order_by_priority), TEST(order_by_weight),
	TEST(order_is_repeatable), TEST(zones),
	TEST(key_files), TEST(servers), TEST(no_core_dumps),
	TEST(rcode_names), TEST(wire_parse_tsig),
};

UNIT_MAIN(tests)
