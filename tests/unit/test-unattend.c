/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Answer files: reading and setting SkipRearm with everything else kept. */
#include <stdlib.h>

#include "lib/utf.h"
#include "prep/unattend.h"
#include "unit.h"

/* The form Windows SIM writes, CRLF, with SkipRearm 1 and another pass. */
static const char sim[] =
	"<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n"
	"<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\r\n"
	"  <!-- built for the lab -->\r\n"
	"  <settings pass=\"generalize\">\r\n"
	"    <component name=\"Microsoft-Windows-Security-SPP\" "
	"processorArchitecture=\"amd64\" publicKeyToken=\"31bf3856ad364e35\" "
	"language=\"neutral\" versionScope=\"nonSxS\" "
	"xmlns:wcm=\"http://schemas.microsoft.com/WMIConfig/2002/State\" "
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\r\n"
	"      <SkipRearm>1</SkipRearm>\r\n"
	"    </component>\r\n"
	"  </settings>\r\n"
	"  <settings pass=\"specialize\">\r\n"
	"    <component name=\"Microsoft-Windows-Security-SPP-UX\" "
	"processorArchitecture=\"amd64\" publicKeyToken=\"31bf3856ad364e35\" "
	"language=\"neutral\" versionScope=\"nonSxS\">\r\n"
	"      <SkipAutoActivation>true</SkipAutoActivation>\r\n"
	"    </component>\r\n"
	"  </settings>\r\n"
	"</unattend>\r\n";

static void
inspect(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct unattend_info i;

	CHECK(unattend_inspect(sim, sizeof(sim) - 1, "u.xml", &i, &err) == 0);
	CHECK(i.generalize);
	CHECK_EQ(i.skip_rearm, 1);
	CHECK_STR(i.arch, "amd64");
}

static void
set_existing(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct unattend_info i;
	struct buf out = BUF_INIT, again = BUF_INIT;
	bool changed;

	CHECK(unattend_set_skip_rearm0(sim, sizeof(sim) - 1, "u.xml", "amd64",
				       &out, &changed, &err) == 0);
	CHECK(changed);
	CHECK(strstr(out.data, "<SkipRearm>0</SkipRearm>") != NULL);
	CHECK(strstr(out.data, "<!-- built for the lab -->") != NULL);
	CHECK(strstr(out.data, "<SkipAutoActivation>true</SkipAutoActivation>")
	      != NULL);
	CHECK(strstr(out.data, "xmlns:wcm=\"http://schemas.microsoft.com/"
			       "WMIConfig/2002/State\"") != NULL);
	/* Every line still ends in CRLF. */
	for (size_t k = 0; k < out.len; k++)
		if (out.data[k] == '\n')
			CHECK(k > 0 && out.data[k - 1] == '\r');
	CHECK(unattend_inspect(out.data, out.len, "u.xml", &i, &err) == 0);
	CHECK_EQ(i.skip_rearm, 0);
	/* A second pass changes nothing. */
	CHECK(unattend_set_skip_rearm0(out.data, out.len, "u.xml", "amd64",
				       &again, &changed, &err) == 0);
	CHECK(!changed);
	buf_release(&out);
	buf_release(&again);
}

static void
add_component_and_pass(void)
{
	static const char other[] =
		"<?xml version=\"1.0\"?>\n"
		"<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\n"
		"  <settings pass=\"oobeSystem\">\n"
		"    <component name=\"Microsoft-Windows-Shell-Setup\" "
		"processorArchitecture=\"amd64\"><TimeZone>UTC</TimeZone>"
		"</component>\n"
		"  </settings>\n"
		"</unattend>\n";
	static const char gen_only_other[] =
		"<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">"
		"<settings pass=\"generalize\"><component "
		"name=\"Microsoft-Windows-PnpSysprep\" processorArchitecture="
		"\"x86\"><PersistAllDeviceInstalls>true</PersistAllDeviceInstalls>"
		"</component></settings></unattend>";
	struct kp_error err = KP_ERROR_INIT;
	struct unattend_info i;
	struct buf out = BUF_INIT;
	bool changed;

	CHECK(unattend_set_skip_rearm0(other, sizeof(other) - 1, "o.xml",
				       "amd64", &out, &changed, &err) == 0);
	CHECK(changed);
	CHECK(strstr(out.data, "<TimeZone>UTC</TimeZone>") != NULL);
	CHECK(strstr(out.data, "\r\n") == NULL);
	CHECK(unattend_inspect(out.data, out.len, "o.xml", &i, &err) == 0);
	CHECK(i.generalize);
	CHECK_EQ(i.skip_rearm, 0);
	CHECK_STR(i.arch, "amd64");
	/* The new pass goes before oobeSystem, as the schema orders them,
	 * and on a line of its own. */
	CHECK(strstr(out.data, "pass=\"generalize\"") != NULL &&
	      strstr(out.data, "pass=\"generalize\"") <
		      strstr(out.data, "pass=\"oobeSystem\""));
	CHECK(strstr(out.data, "</settings>\n  <settings pass=\"oobeSystem\"")
	      != NULL);

	CHECK(unattend_set_skip_rearm0(gen_only_other,
				       sizeof(gen_only_other) - 1, "g.xml",
				       "x86", &out, &changed, &err) == 0);
	CHECK(strstr(out.data, "PersistAllDeviceInstalls") != NULL);
	CHECK(unattend_inspect(out.data, out.len, "g.xml", &i, &err) == 0);
	CHECK_EQ(i.skip_rearm, 0);
	CHECK_STR(i.arch, "x86");
	buf_release(&out);
}

static void
new_file(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct unattend_info i;
	struct buf out = BUF_INIT;

	CHECK(unattend_new("arm64", &out, &err) == 0);
	CHECK(unattend_inspect(out.data, out.len, "n.xml", &i, &err) == 0);
	CHECK(i.generalize);
	CHECK_EQ(i.skip_rearm, 0);
	CHECK_STR(i.arch, "arm64");
	CHECK(strncmp(out.data, "<?xml", 5) == 0);
	buf_release(&out);
}

static void
encodings(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct unattend_info i;
	struct buf u16 = BUF_INIT, out = BUF_INIT, bom = BUF_INIT;
	bool changed;

	/* UTF-16LE with a byte order mark stays UTF-16LE. */
	buf_add(&u16, "\xff\xfe", 2);
	utf8_to_utf16le(sim, sizeof(sim) - 1, &u16);
	CHECK(unattend_set_skip_rearm0(u16.data, u16.len, "w.xml", "amd64",
				       &out, &changed, &err) == 0);
	CHECK(out.len > 2 && (unsigned char)out.data[0] == 0xff &&
	      (unsigned char)out.data[1] == 0xfe);
	CHECK(unattend_inspect(out.data, out.len, "w.xml", &i, &err) == 0);
	CHECK_EQ(i.skip_rearm, 0);
	/* ... with its CRLF line ends. */
	for (size_t k = 2; k + 1 < out.len; k += 2)
		if (out.data[k] == '\n' && out.data[k + 1] == 0)
			CHECK(out.data[k - 2] == '\r' && out.data[k - 1] == 0);
	/* A UTF-8 byte order mark is kept, absent ones are not added. */
	buf_add(&bom, "\xef\xbb\xbf", 3);
	buf_add(&bom, sim, sizeof(sim) - 1);
	CHECK(unattend_set_skip_rearm0(bom.data, bom.len, "b.xml", "amd64",
				       &out, &changed, &err) == 0);
	CHECK(memcmp(out.data, "\xef\xbb\xbf<?xml", 8) == 0);
	CHECK(unattend_set_skip_rearm0(sim, sizeof(sim) - 1, "s.xml", "amd64",
				       &out, &changed, &err) == 0);
	CHECK(strncmp(out.data, "<?xml", 5) == 0);
	buf_release(&u16);
	buf_release(&out);
	buf_release(&bom);
}

static void
hostile(void)
{
	static const char *const bad[] = {
		"",
		"<unattend",
		"<notunattend/>",
		"<?xml version=\"1.0\"?><!DOCTYPE unattend [<!ENTITY a \"aaaa\">"
		"<!ENTITY b \"&a;&a;&a;&a;\">]><unattend>&b;</unattend>",
		"<!DOCTYPE unattend SYSTEM \"http://example.com/x.dtd\">"
		"<unattend/>",
	};
	struct kp_error err = KP_ERROR_INIT;
	struct unattend_info i;
	size_t k;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		err.status = 0;
		CHECK(unattend_inspect(bad[k], strlen(bad[k]), "h.xml", &i,
				       &err) < 0);
		CHECK_EQ(err.status, KP_ERR_INPUT);
	}
}

#define SPP_OPEN(arch)                                                     \
	"<component name=\"Microsoft-Windows-Security-SPP\" "                 \
	"processorArchitecture=\"" arch "\">"

/* Review findings: a 1 hidden behind a 0 of another architecture or in a
 * second generalize pass was missed; a processed pass counted. */
static void
every_pass_and_component(void)
{
	static const char two_arch[] =
		"<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">"
		"<settings pass=\"generalize\">" SPP_OPEN("x86")
		"<SkipRearm>0</SkipRearm></component>" SPP_OPEN("amd64")
		"<SkipRearm> 1 </SkipRearm></component></settings></unattend>";
	static const char two_pass[] =
		"<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">"
		"<settings pass=\"generalize\">" SPP_OPEN("amd64")
		"<SkipRearm>0</SkipRearm></component></settings>"
		"<settings pass=\"generalize\">" SPP_OPEN("amd64")
		"<SkipRearm>1</SkipRearm></component></settings></unattend>";
	static const char processed[] =
		"<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">"
		"<settings pass=\"generalize\" wasPassProcessed=\"true\">"
		SPP_OPEN("amd64") "<SkipRearm>1</SkipRearm></component>"
		"</settings></unattend>";
	const char *const files[] = { two_arch, two_pass };
	struct kp_error err = KP_ERROR_INIT;
	struct unattend_info i;
	struct buf out = BUF_INIT;
	bool changed;
	size_t k;

	for (k = 0; k < 2; k++) {
		CHECK(unattend_inspect(files[k], strlen(files[k]), "m.xml", &i,
				       &err) == 0);
		CHECK_EQ(i.skip_rearm, 1);
		CHECK_STR(i.arch, "amd64");
		CHECK(unattend_set_skip_rearm0(files[k], strlen(files[k]),
					       "m.xml", "amd64", &out, &changed,
					       &err) == 0);
		CHECK(changed);
		CHECK(strstr(out.data, ">1<") == NULL);
		CHECK(strstr(out.data, "> 1 <") == NULL);
		CHECK(unattend_inspect(out.data, out.len, "m.xml", &i,
				       &err) == 0);
		CHECK_EQ(i.skip_rearm, 0);
	}
	/* Setup skips a processed pass: no generalize pass to run here. */
	CHECK(unattend_inspect(processed, strlen(processed), "p.xml", &i,
			       &err) == 0);
	CHECK(!i.generalize);
	CHECK_EQ(i.skip_rearm, -1);
	CHECK(unattend_set_skip_rearm0(processed, strlen(processed), "p.xml",
				       "amd64", &out, &changed, &err) == 0);
	CHECK(changed);
	CHECK(unattend_inspect(out.data, out.len, "p.xml", &i, &err) == 0);
	CHECK(i.generalize);
	CHECK_EQ(i.skip_rearm, 0);
	buf_release(&out);
}

/* Count the lines of OUT that are not ORIG's lines in order (ORIG's must
 * all be there, byte for byte, CRLF included); -1 if one is missing. */
static int
added_lines(const char *orig, const struct buf *out)
{
	const char *o = orig, *p = out->data, *end = out->data + out->len;
	int added = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		const char *onl = strchr(o, '\n');
		size_t on = onl ? (size_t)(onl - o) + 1 : strlen(o);

		if (*o && on == n && memcmp(o, p, n) == 0)
			o += on;
		else
			added++;
		p += n;
	}
	return *o ? -1 : added;
}

static const char keeps_packer[] =
	"<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n"
	"<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\r\n"
	"    <!-- Server 2016 Datacenter, evaluation media -->\r\n"
	"    <settings pass=\"windowsPE\">\r\n"
	"        <component name=\"Microsoft-Windows-International-Core-WinPE\" processorArchitecture=\"amd64\" publicKeyToken=\"31bf3856ad364e35\" language=\"neutral\" versionScope=\"nonSxS\" xmlns:wcm=\"http://schemas.microsoft.com/WMIConfig/2002/State\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\r\n"
	"            <SetupUILanguage>\r\n"
	"                <UILanguage>en-US</UILanguage>\r\n"
	"            </SetupUILanguage>\r\n"
	"            <InputLocale>en-US</InputLocale>\r\n"
	"        </component>\r\n"
	"        <component name=\"Microsoft-Windows-Setup\" processorArchitecture=\"amd64\" publicKeyToken=\"31bf3856ad364e35\" language=\"neutral\" versionScope=\"nonSxS\" xmlns:wcm=\"http://schemas.microsoft.com/WMIConfig/2002/State\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\r\n"
	"            <UserData>\r\n"
	"                <ProductKey>\r\n"
	"                    <WillShowUI>OnError</WillShowUI>\r\n"
	"                    <Key />\r\n"
	"                </ProductKey>\r\n"
	"                <AcceptEula>true</AcceptEula>\r\n"
	"            </UserData>\r\n"
	"        </component>\r\n"
	"    </settings>\r\n"
	"    <settings pass=\"specialize\">\r\n"
	"        <component name=\"Microsoft-Windows-Security-SPP-UX\" processorArchitecture=\"amd64\" publicKeyToken=\"31bf3856ad364e35\" language=\"neutral\" versionScope=\"nonSxS\" xmlns:wcm=\"http://schemas.microsoft.com/WMIConfig/2002/State\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\r\n"
	"            <SkipAutoActivation>true</SkipAutoActivation>\r\n"
	"        </component>\r\n"
	"    </settings>\r\n"
	"    <settings pass=\"oobeSystem\">\r\n"
	"        <component name=\"Microsoft-Windows-Shell-Setup\" processorArchitecture=\"amd64\" publicKeyToken=\"31bf3856ad364e35\" language=\"neutral\" versionScope=\"nonSxS\" xmlns:wcm=\"http://schemas.microsoft.com/WMIConfig/2002/State\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\r\n"
	"            <TimeZone>UTC</TimeZone>\r\n"
	"        </component>\r\n"
	"    </settings>\r\n"
	"</unattend>\r\n";

/* Shaped like Packer's Windows Server 2016 Autounattend.xml: the forms
 * libxml2 would rewrite (namespace declarations after other attributes,
 * "<X />", a lower-case encoding name) must come out as they went in. */
static void
keeps_text(void)
{
	static const char sysprep[] =
		"<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\n"
		"  <settings pass=\"generalize\">\n"
		"    <component name=\"Microsoft-Windows-Security-SPP\" processorArchitecture=\"amd64\" publicKeyToken=\"31bf3856ad364e35\" language=\"neutral\" versionScope=\"nonSxS\" xmlns:wcm=\"http://schemas.microsoft.com/WMIConfig/2002/State\">\n"
		"      <SkipRearm>1</SkipRearm>\n"
		"    </component>\n"
		"  </settings>\n"
		"  <settings pass=\"oobeSystem\" />\n"
		"</unattend>";
	struct kp_error err = KP_ERROR_INIT;
	struct unattend_info i;
	struct buf out = BUF_INIT;
	bool changed;
	const char *g, *sp;

	CHECK_EQ(unattend_set_skip_rearm0(keeps_packer, sizeof(keeps_packer) - 1,
					  "Autounattend.xml", "amd64", &out,
					  &changed, &err), 0);
	CHECK(changed);
	/* Every line kept; the five of the new pass added, in CRLF. */
	CHECK_EQ(added_lines(keeps_packer, &out), 5);
	CHECK(strstr(buf_str(&out), "<Key />\r\n") != NULL);
	g = strstr(buf_str(&out), "    <settings pass=\"generalize\">\r\n");
	sp = strstr(buf_str(&out), "<settings pass=\"specialize\">");
	CHECK(g != NULL && sp != NULL && g < sp);
	CHECK(strstr(buf_str(&out), "        <SkipRearm>0</SkipRearm>\r\n"));
	CHECK_EQ(unattend_inspect(out.data, out.len, "a", &i, &err), 0);
	CHECK_EQ(i.skip_rearm, 0);

	/* A sysprep file with SkipRearm 1: that one line changes. */
	CHECK_EQ(unattend_set_skip_rearm0(sysprep, sizeof(sysprep) - 1,
					  "unattend.xml", "amd64", &out,
					  &changed, &err), 0);
	CHECK(changed);
	CHECK_EQ(out.len, sizeof(sysprep) - 1);
	CHECK(memcmp(out.data, sysprep, 230) == 0);
	CHECK(strstr(buf_str(&out), "      <SkipRearm>0</SkipRearm>\n"));
	CHECK(strstr(buf_str(&out), "<settings pass=\"oobeSystem\" />\n"));
	CHECK(out.data[out.len - 1] == '>');
	buf_release(&out);
}


/* The lines of A and B that differ, when both have as many; -1 if not. */
static int
changed_lines(const char *a, const struct buf *b)
{
	const char *p = b->data, *end = b->data + b->len;
	int n = 0;

	while (*a && p < end) {
		const char *na = strchr(a, '\n'), *nb;
		size_t la = na ? (size_t)(na - a) + 1 : strlen(a), lb;

		nb = memchr(p, '\n', (size_t)(end - p));
		lb = nb ? (size_t)(nb - p) + 1 : (size_t)(end - p);
		n += la != lb || memcmp(a, p, la) != 0;
		a += la;
		p += lb;
	}
	return *a || p < end ? -1 : n;
}

#define SHELL_OPEN                                                         \
	"    <component name=\"Microsoft-Windows-Shell-Setup\" "             \
	"processorArchitecture=\"amd64\" publicKeyToken=\"31bf3856ad364e35\" " \
	"language=\"neutral\" versionScope=\"nonSxS\" "                       \
	"xmlns:wcm=\"http://schemas.microsoft.com/WMIConfig/2002/State\">\r\n"

/* --gvlk in sysprep mode: Shell-Setup's ProductKey in the specialize pass,
 * only the lines that must change changed. */
static void
product_key(void)
{
	static const char gvlk[] = "NPPR9-FWDCX-D2C8J-H872K-2YT43";
	/* No specialize pass: it goes between generalize and oobeSystem. */
	static const char no_pass[] =
		"<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n"
		"<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\r\n"
		"  <!-- lab -->\r\n"
		"  <settings pass=\"generalize\">\r\n"
		"    <component name=\"Microsoft-Windows-Security-SPP\" xmlns:wcm=\"http://schemas.microsoft.com/WMIConfig/2002/State\" processorArchitecture=\"amd64\">\r\n"
		"      <SkipRearm>0</SkipRearm>\r\n"
		"    </component>\r\n"
		"  </settings>\r\n"
		"  <settings pass=\"oobeSystem\">\r\n"
		SHELL_OPEN
		"      <TimeZone>UTC</TimeZone>\r\n"
		"    </component>\r\n"
		"  </settings>\r\n"
		"</unattend>\r\n";
	/* A key there already (made up; it stands for a MAK). */
	static const char has_key[] =
		"<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\r\n"
		"  <settings pass=\"specialize\">\r\n"
		SHELL_OPEN
		"      <ComputerName>*</ComputerName>\r\n"
		"      <ProductKey> QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN </ProductKey>\r\n"
		"      <RegisteredOwner />\r\n"
		"    </component>\r\n"
		"  </settings>\r\n"
		"</unattend>\r\n";
	struct kp_error err = KP_ERROR_INIT;
	struct buf out = BUF_INIT, found = BUF_INIT, again = BUF_INIT;
	const char *g, *sp, *o;
	bool changed;

	CHECK_EQ(unattend_set_product_key(no_pass, sizeof(no_pass) - 1, "u",
					  "amd64", gvlk, false, &out, &changed,
					  &found, &err), 0);
	CHECK(changed);
	CHECK_EQ(found.len, 0);
	/* Pass, component, key, and their two closing tags; CRLF. */
	CHECK_EQ(added_lines(no_pass, &out), 5);
	g = strstr(buf_str(&out), "<settings pass=\"generalize\">");
	sp = strstr(buf_str(&out), "\r\n  <settings pass=\"specialize\">\r\n");
	o = strstr(buf_str(&out), "<settings pass=\"oobeSystem\">");
	CHECK(g && sp && o && g < sp && sp < o);
	CHECK(strstr(buf_str(&out), "\r\n      <ProductKey>NPPR9-FWDCX-D2C8J-"
		     "H872K-2YT43</ProductKey>\r\n    </component>\r\n  "
		     "</settings>\r\n  <settings pass=\"oobeSystem\">") != NULL);
	/* The new component: the attributes Windows SIM writes. */
	g = sp ? strstr(sp, "\r\n    <component ") : NULL;
	sp = g ? strstr(g, "name=\"Microsoft-Windows-Shell-Setup\" "
			"processorArchitecture=\"amd64\" publicKeyToken="
			"\"31bf3856ad364e35\" language=\"neutral\" "
			"versionScope=\"nonSxS\">") : NULL;
	CHECK(g && sp && g < o && sp < o);
	/* Twice changes nothing. */
	CHECK_EQ(unattend_set_product_key(out.data, out.len, "u", "amd64",
					  gvlk, false, &again, &changed,
					  &found, &err), 0);
	CHECK(!changed);
	CHECK_STR(buf_str(&found), gvlk);
	/* image show: a table key is shown, any other only said to be. */
	{
		struct unattend_info info;

		CHECK_EQ(unattend_inspect(out.data, out.len, "u", &info, &err),
			 0);
		CHECK_EQ(info.product_key, UNATTEND_KEY_GVLK);
		CHECK_STR(info.gvlk, gvlk);
		CHECK_EQ(unattend_inspect(has_key, sizeof(has_key) - 1, "u",
					  &info, &err), 0);
		CHECK_EQ(info.product_key, UNATTEND_KEY_OTHER);
		CHECK_STR(info.gvlk, "");
		CHECK_EQ(unattend_inspect(no_pass, sizeof(no_pass) - 1, "u",
					  &info, &err), 0);
		CHECK_EQ(info.product_key, UNATTEND_KEY_NONE);
	}

	/* A specialize pass without Shell-Setup (Packer's): the component
	 * goes into it; the rest is kept byte for byte. */
	CHECK_EQ(unattend_set_product_key(keeps_packer, sizeof(keeps_packer) -
					  1, "a", "amd64", gvlk, false, &out,
					  &changed, &found, &err), 0);
	CHECK(changed);
	CHECK_EQ(added_lines(keeps_packer, &out), 3);
	sp = strstr(buf_str(&out), "<SkipAutoActivation>");
	g = strstr(buf_str(&out), "name=\"Microsoft-Windows-Shell-Setup\"");
	o = strstr(buf_str(&out), "<settings pass=\"oobeSystem\">");
	CHECK(sp && g && o && sp < g && g < o);
	CHECK(strstr(buf_str(&out), "            <ProductKey>NPPR9-FWDCX-"
		     "D2C8J-H872K-2YT43</ProductKey>\r\n        </component>"
		     "\r\n    </settings>\r\n    <settings pass=\"oobeSystem\">")
	      != NULL);

	/* A different key: kept unless asked, and reported. */
	CHECK_EQ(unattend_set_product_key(has_key, sizeof(has_key) - 1, "k",
					  "amd64", gvlk, false, &out, &changed,
					  &found, &err), 0);
	CHECK(!changed);
	CHECK_EQ(out.len, 0);
	CHECK_STR(buf_str(&found), "QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN");
	CHECK_EQ(unattend_set_product_key(has_key, sizeof(has_key) - 1, "k",
					  "amd64", gvlk, true, &out, &changed,
					  &found, &err), 0);
	CHECK(changed);
	/* That one line, and nothing else ("<RegisteredOwner />" too). */
	CHECK_EQ(changed_lines(has_key, &out), 1);
	CHECK(strstr(buf_str(&out), "\r\n      <ProductKey>NPPR9-FWDCX-D2C8J-"
		     "H872K-2YT43</ProductKey>\r\n") != NULL);
	CHECK(strstr(buf_str(&out), "QXR7B") == NULL);
	/* Another architecture's component is not this one's. */
	CHECK_EQ(unattend_set_product_key(has_key, sizeof(has_key) - 1, "k",
					  "x86", gvlk, false, &out, &changed,
					  &found, &err), 0);
	CHECK(changed);
	CHECK_EQ(added_lines(has_key, &out), 3);
	buf_release(&out);
	buf_release(&again);
	buf_wipe(&found);
}

static const struct unit_test tests[] = {
	TEST(inspect), TEST(set_existing), TEST(add_component_and_pass),
	TEST(new_file), TEST(encodings), TEST(hostile),
	TEST(every_pass_and_component), TEST(keeps_text), TEST(product_key),
};

UNIT_MAIN(tests)
