/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The SPP settings model: option parsing, normalization, conflicts. */
#include "hive/regf.h"
#include "hive/spp.h"
#include "unit.h"

static int
opt(struct spp_settings *s, const char *o, const char *a,
    struct kp_error *err)
{
	return spp_settings_option(s, o, a, err);
}

static void
kms_host_forms(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct spp_settings s;

	spp_settings_init(&s);
	CHECK(opt(&s, "kms-host", "kms.contoso.com:1688", &err) == 0);
	CHECK(s.edit[SPP_KMS_NAME].set);
	CHECK_STR(s.edit[SPP_KMS_NAME].sz, "kms.contoso.com");
	CHECK(s.edit[SPP_KMS_PORT].set);
	CHECK_STR(s.edit[SPP_KMS_PORT].sz, "1688");
	spp_settings_release(&s);

	/* A name without a port clears the port, as slmgr /skms does. */
	spp_settings_init(&s);
	CHECK(opt(&s, "kms-host", "kms", &err) == 0);
	CHECK(s.touched[SPP_KMS_PORT] && !s.edit[SPP_KMS_PORT].set);
	spp_settings_release(&s);

	/* :PORT changes only the port. */
	spp_settings_init(&s);
	CHECK(opt(&s, "kms-host", ":1700", &err) == 0);
	CHECK(!s.touched[SPP_KMS_NAME]);
	CHECK_STR(s.edit[SPP_KMS_PORT].sz, "1700");
	spp_settings_release(&s);

	/* IPv6 keeps its brackets, as slmgr passes them on. */
	spp_settings_init(&s);
	CHECK(opt(&s, "kms-host", "[2001:db8::1]:1688", &err) == 0);
	CHECK_STR(s.edit[SPP_KMS_NAME].sz, "[2001:db8::1]");
	spp_settings_release(&s);

	spp_settings_init(&s);
	CHECK(opt(&s, "kms-host", "10.0.0.5:01688", &err) == 0);
	CHECK_STR(s.edit[SPP_KMS_PORT].sz, "1688");
	spp_settings_release(&s);
}

static void
kms_host_errors(void)
{
	static const char *const bad[] = {
		"", ":", "kms:", "kms:0", "kms:65536", "kms:port",
		"2001:db8::1", "[2001:db8::1", "[kms]:1688", "[::1]x",
		"kms.contoso.com&calc", "kms%x", "-kms", "k ms",
		"kms.contoso.com:1688:1",
	};
	struct kp_error err = KP_ERROR_INIT;
	struct spp_settings s;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		spp_settings_init(&s);
		err.status = 0;
		CHECK(opt(&s, "kms-host", bad[i], &err) < 0);
		CHECK_EQ(err.status, KP_ERR_INVALID);
		/* The setting's name, never an option: the CLI adds "--". */
		CHECK(strncmp(err.msg, "kms-host: ", 10) == 0);
		spp_settings_release(&s);
	}
}

static void
conflicts(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct spp_settings s;

	spp_settings_init(&s);
	CHECK(opt(&s, "kms-host", "kms", &err) == 0);
	CHECK(opt(&s, "clear-kms-host", NULL, &err) < 0);
	CHECK(strstr(err.msg, "conflicts with kms-host") != NULL);
	spp_settings_release(&s);

	spp_settings_init(&s);
	CHECK(opt(&s, "renewal-interval", "60", &err) == 0);
	CHECK(opt(&s, "renewal-interval", "90", &err) < 0);
	CHECK(strstr(err.msg, "given twice") != NULL);
	spp_settings_release(&s);

	spp_settings_init(&s);
	CHECK(opt(&s, "publish-domain", "a.example", &err) == 0);
	CHECK(opt(&s, "clear-publish-domains", NULL, &err) < 0);
	spp_settings_release(&s);

	spp_settings_init(&s);
	CHECK(opt(&s, "kms-host", NULL, &err) < 0);
	CHECK(opt(&s, "clear-kms-host", "x", &err) < 0);
	CHECK(opt(&s, "no-such-setting", "x", &err) < 0);
	spp_settings_release(&s);
}

static void
publish_domains(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct spp_publish p;
	struct spp_settings s;

	spp_settings_init(&s);
	CHECK(opt(&s, "publish-domain", "contoso.com,10,50", &err) == 0);
	CHECK(opt(&s, "publish-domain", "fabrikam.com", &err) == 0);
	CHECK(opt(&s, "publish-domain", "a.example,5", &err) == 0);
	CHECK_EQ(s.edit[SPP_PUBLISH_LIST].nlist, 3);
	CHECK_STR(s.edit[SPP_PUBLISH_LIST].list[0], "contoso.com, 10, 50");
	CHECK_STR(s.edit[SPP_PUBLISH_LIST].list[1], "fabrikam.com");
	CHECK_STR(s.edit[SPP_PUBLISH_LIST].list[2], "a.example, 5");
	CHECK(opt(&s, "publish-domain", "FABRIKAM.com,1", &err) < 0);
	CHECK(opt(&s, "publish-domain", "x.example,65536", &err) < 0);
	CHECK(opt(&s, "publish-domain", "x.example,1,2,3", &err) < 0);
	CHECK(opt(&s, "publish-domain", "bad domain", &err) < 0);
	CHECK(opt(&s, "publish-domain", "", &err) < 0);
	spp_settings_release(&s);

	CHECK(spp_parse_publish(" contoso.com ,  10 ,50 ", &p, &err) == 0);
	CHECK_STR(p.domain, "contoso.com");
	CHECK_EQ(p.priority, 10);
	CHECK_EQ(p.weight, 50);
	CHECK(spp_parse_publish("contoso.com", &p, &err) == 0);
	CHECK_EQ(p.priority, 0);
	CHECK(!p.has_priority);
}

static void
values(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct spp_settings s;

	spp_settings_init(&s);
	CHECK(opt(&s, "dns-publishing", "off", &err) == 0);
	CHECK_EQ(s.edit[SPP_DNS_PUBLISHING].dword, 1);
	CHECK(opt(&s, "host-caching", "on", &err) == 0);
	CHECK_EQ(s.edit[SPP_HOST_CACHING].dword, 0);
	CHECK(opt(&s, "low-priority", "on", &err) == 0);
	CHECK_EQ(s.edit[SPP_LOW_PRIORITY].dword, 1);
	CHECK(opt(&s, "activation-type", "kms", &err) == 0);
	CHECK_EQ(s.edit[SPP_ACT_TYPE].dword, 2);
	CHECK(opt(&s, "activation-interval", "14", &err) < 0);
	CHECK(opt(&s, "activation-interval", "15", &err) == 0);
	CHECK(opt(&s, "renewal-interval", "43200", &err) == 0);
	CHECK(opt(&s, "listen-port", "1688", &err) == 0);
	CHECK(opt(&s, "skip-rearm", "off", &err) == 0);
	CHECK_EQ(s.edit[SPP_SKIP_REARM].dword, 0);
	CHECK_EQ(s.ngiven, 8);
	spp_settings_release(&s);

	spp_settings_init(&s);
	CHECK(opt(&s, "activation-type", "all", &err) == 0);
	CHECK(s.touched[SPP_ACT_TYPE] && !s.edit[SPP_ACT_TYPE].set);
	CHECK(opt(&s, "lookup-domain", "bad_domain", &err) < 0);
	spp_settings_release(&s);
}

static void
products(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct spp_settings s;

	spp_settings_init(&s);
	CHECK(opt(&s, "activation-id", "{2DE67392-B7A7-462A-B1CA-108DD189F588}",
		  &err) == 0);
	CHECK_STR(s.act, "2de67392-b7a7-462a-b1ca-108dd189f588");
	CHECK(opt(&s, "kms-host", "kms", &err) == 0);
	CHECK(spp_settings_check(&s, &err) == 0);
	CHECK(opt(&s, "dns-publishing", "off", &err) == 0);
	CHECK(spp_settings_check(&s, &err) < 0);
	CHECK(strstr(err.msg, "dns-publishing applies to the whole service")
	      != NULL);
	spp_settings_release(&s);

	spp_settings_init(&s);
	CHECK(opt(&s, "application", "office", &err) == 0);
	CHECK_STR(s.app, SPP_APP_OFFICE);
	CHECK(opt(&s, "application", "windows", &err) < 0);
	spp_settings_release(&s);
}

static const struct unit_test tests[] = {
	TEST(kms_host_forms), TEST(kms_host_errors), TEST(conflicts),
	TEST(publish_domains), TEST(values), TEST(products),
};

UNIT_MAIN(tests)
