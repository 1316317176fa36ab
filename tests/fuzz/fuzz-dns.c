/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* DNS answers as `kms discover` reads them: the wire format
 * (dns_wire_parse), then the SRV records for the name asked and the order
 * a client tries them. */
#include "fuzz.h"
#include "kms/dns.h"
#include "kms/publish.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kp_error err = KP_ERROR_INIT;
	struct disc_host *v = NULL;
	ldns_pkt *a = NULL;
	size_t n;

	if (dns_wire_parse(&a, data, size) != LDNS_STATUS_OK)
		return 0;
	if (disc_hosts(a, "_vlmcs._tcp.example.test.", size, &v, &n,
		       &err) == 0)
		free(v);
	ldns_pkt_free(a);
	return 0;
}
