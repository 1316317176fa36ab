/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The GVLK table.  Data, not code: the keys and product names are copied
 * from Microsoft's page "Key Management Services (KMS) client activation
 * and product keys", https://learn.microsoft.com/en-us/windows-server/get-started/kms-client-activation-keys
 * (source MicrosoftDocs/windowsserverdocs, ms.date 10/01/2024).  The
 * EditionID and build of each row are the registry's (SOFTWARE\Microsoft\
 * Windows NT\CurrentVersion): EditionID and CurrentBuildNumber. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "gvlk.h"
#include "hive/hive.h"
#include "hive/regf.h"
#include "hive/regval.h"
#include "lib/buf.h"

const char gvlk_source[] =
	"https://learn.microsoft.com/en-us/windows-server/get-started/"
	"kms-client-activation-keys";
const char gvlk_date[] = "2024-10-01";

/* A CurrentBuildNumber range; ANY: Windows 10 and 11, every release. */
#define BUILDS(lo, hi) .min_build = (lo), .max_build = (hi)
#define ANY BUILDS(10240, 99999)

static const struct gvlk table[] = {
	/* Windows Server LTSC */
	{ .edition = "ServerStandard", BUILDS(26100, 26100), .acor = -1,
	  .product = "Windows Server 2025 Standard",
	  .key = "TVRH6-WHNXV-R9WG3-9XRFY-MY832" },
	{ .edition = "ServerDatacenter", BUILDS(26100, 26100), .acor = -1,
	  .product = "Windows Server 2025 Datacenter",
	  .key = "D764K-2NDRG-47T6Q-P8T8W-YP6DF" },
	{ .edition = "ServerTurbine", BUILDS(26100, 26100), .acor = -1,
	  .product = "Windows Server 2025 Datacenter: Azure Edition",
	  .key = "XGN3F-F394H-FD2MY-PP6FD-8MCRC" },
	{ .edition = "ServerStandard", BUILDS(20348, 20348), .acor = -1,
	  .product = "Windows Server 2022 Standard",
	  .key = "VDYBN-27WPP-V4HQT-9VMD4-VMK7H" },
	{ .edition = "ServerDatacenter", BUILDS(20348, 20348), .acor = -1,
	  .product = "Windows Server 2022 Datacenter",
	  .key = "WX4NM-KYWYW-QJJR4-XV3QB-6VM33" },
	{ .edition = "ServerTurbine", BUILDS(20348, 20348), .acor = -1,
	  .product = "Windows Server 2022 Datacenter: Azure Edition",
	  .key = "NTBV8-9K7Q8-V27C6-M2BTV-KHMXV" },
	{ .edition = "ServerStandard", BUILDS(17763, 17763), .acor = 0,
	  .product = "Windows Server 2019 Standard",
	  .key = "N69G4-B89J2-4G8F4-WWYCC-J464C" },
	{ .edition = "ServerDatacenter", BUILDS(17763, 17763), .acor = 0,
	  .product = "Windows Server 2019 Datacenter",
	  .key = "WMDGN-G9PQG-XVVXX-R3X43-63DFG" },
	{ .edition = "ServerSolution", BUILDS(17763, 17763), .acor = -1,
	  .product = "Windows Server 2019 Essentials",
	  .key = "WVDHN-86M7X-466P6-VHXV7-YY726" },
	{ .edition = "ServerStandard", BUILDS(14393, 14393), .acor = -1,
	  .product = "Windows Server 2016 Standard",
	  .key = "WC2BQ-8NRM3-FDDYY-2BFGV-KHKQY" },
	{ .edition = "ServerDatacenter", BUILDS(14393, 14393), .acor = -1,
	  .product = "Windows Server 2016 Datacenter",
	  .key = "CB7KF-BWN84-R7R2Y-793K2-8XDDG" },
	{ .edition = "ServerSolution", BUILDS(14393, 14393), .acor = -1,
	  .product = "Windows Server 2016 Essentials",
	  .key = "JCKRF-N37P4-C2D82-9YXRT-4M63B" },
	/* Windows Server Semi-Annual Channel: 1809 (Server Core only, the
	 * ACor editions, on 2019's build), 1903, 1909, 2004, 20H2 */
	{ .edition = "ServerStandard", BUILDS(17763, 17763), .acor = 1,
	  .product = "Windows Server Standard, version 1809",
	  .key = "N2KJX-J94YW-TQVFB-DG9YT-724CC" },
	{ .edition = "ServerDatacenter", BUILDS(17763, 17763), .acor = 1,
	  .product = "Windows Server Datacenter, version 1809",
	  .key = "6NMRW-2C8FM-D24W7-TQWMY-CWH2D" },
	{ .edition = "ServerStandard", BUILDS(18362, 19042), .acor = -1,
	  .product = "Windows Server Standard, versions 1903 to 20H2",
	  .key = "N2KJX-J94YW-TQVFB-DG9YT-724CC" },
	{ .edition = "ServerDatacenter", BUILDS(18362, 19042), .acor = -1,
	  .product = "Windows Server Datacenter, versions 1903 to 20H2",
	  .key = "6NMRW-2C8FM-D24W7-TQWMY-CWH2D" },
	{ .edition = "ServerStandard", BUILDS(17134, 17134), .acor = -1,
	  .product = "Windows Server Standard, version 1803",
	  .key = "PTXN8-JFHJM-4WC78-MPCBR-9W4KR" },
	{ .edition = "ServerDatacenter", BUILDS(17134, 17134), .acor = -1,
	  .product = "Windows Server Datacenter, version 1803",
	  .key = "2HXDN-KRXHB-GPYC7-YCKFJ-7FVDG" },
	{ .edition = "ServerStandard", BUILDS(16299, 16299), .acor = -1,
	  .product = "Windows Server Standard, version 1709",
	  .key = "DPCNP-XQFKJ-BJF7R-FRC8D-GF6G4" },
	{ .edition = "ServerDatacenter", BUILDS(16299, 16299), .acor = -1,
	  .product = "Windows Server Datacenter, version 1709",
	  .key = "6Y6KB-N82V8-D8CQV-23MJW-BWTG6" },
	/* Earlier Windows Server */
	{ .edition = "ServerStandard", BUILDS(9600, 9600), .acor = -1,
	  .product = "Windows Server 2012 R2 Standard",
	  .key = "D2N9P-3P6X9-2R39C-7RTCD-MDVJX" },
	{ .edition = "ServerDatacenter", BUILDS(9600, 9600), .acor = -1,
	  .product = "Windows Server 2012 R2 Datacenter",
	  .key = "W3GGN-FT8W3-Y4M27-J84CP-Q3VJ9" },
	{ .edition = "ServerSolution", BUILDS(9600, 9600), .acor = -1,
	  .product = "Windows Server 2012 R2 Essentials",
	  .key = "KNC87-3J2TX-XB4WP-VCPJV-M4FWM" },
	{ .edition = "ServerStandard", BUILDS(9200, 9200), .acor = -1,
	  .product = "Windows Server 2012 Standard",
	  .key = "XC9B7-NBPP2-83J2H-RHMBY-92BT4" },
	{ .edition = "ServerMultiPointStandard", BUILDS(9200, 9200),
	  .acor = -1,
	  .product = "Windows Server 2012 MultiPoint Standard",
	  .key = "HM7DN-YVMH3-46JC3-XYTG7-CYQJJ" },
	{ .edition = "ServerMultiPointPremium", BUILDS(9200, 9200), .acor = -1,
	  .product = "Windows Server 2012 MultiPoint Premium",
	  .key = "XNH6W-2V9GX-RGJ4K-Y8X6F-QGJ2G" },
	{ .edition = "ServerDatacenter", BUILDS(9200, 9200), .acor = -1,
	  .product = "Windows Server 2012 Datacenter",
	  .key = "48HP8-DN98B-MYWDG-T2DCC-8W83P" },
	{ .edition = "ServerSolution", BUILDS(9200, 9200), .acor = -1,
	  .product = "Windows Server 2012 Essentials",
	  .key = "HTDQM-NBMMG-KGYDT-2DTKT-J2MPV" },
	{ .edition = "ServerWeb", BUILDS(7600, 7601), .acor = -1,
	  .product = "Windows Server 2008 R2 Web",
	  .key = "6TPJF-RBVHG-WBW2R-86QPH-6RTM4" },
	{ .edition = "ServerComputeCluster", BUILDS(7600, 7601), .acor = -1,
	  .product = "Windows Server 2008 R2 HPC edition",
	  .key = "TT8MH-CG224-D3D7Q-498W2-9QCTX" },
	{ .edition = "ServerStandard", BUILDS(7600, 7601), .acor = -1,
	  .product = "Windows Server 2008 R2 Standard",
	  .key = "YC6KT-GKW9T-YTKYR-T4X34-R7VHC" },
	{ .edition = "ServerEnterprise", BUILDS(7600, 7601), .acor = -1,
	  .product = "Windows Server 2008 R2 Enterprise",
	  .key = "489J6-VHDMP-X63PK-3K798-CPX3Y" },
	{ .edition = "ServerDatacenter", BUILDS(7600, 7601), .acor = -1,
	  .product = "Windows Server 2008 R2 Datacenter",
	  .key = "74YFP-3QFB3-KQT8W-PMXWJ-7M648" },
	{ .edition = "ServerEnterpriseIA64", BUILDS(7600, 7601), .acor = -1,
	  .product = "Windows Server 2008 R2 for Itanium-based Systems",
	  .key = "GT63C-RJFQ3-4GMB6-BRFB9-CB83V" },
	/* Windows Enterprise LTSC and LTSB (before the general rows: the
	 * same builds) */
	{ .edition = "EnterpriseS", BUILDS(26100, 26100), .acor = -1,
	  .product = "Windows 11 Enterprise LTSC 2024",
	  .key = "M7XTQ-FN8P6-TTKYV-9D4CC-J462D" },
	{ .edition = "EnterpriseSN", BUILDS(26100, 26100), .acor = -1,
	  .product = "Windows 11 Enterprise N LTSC 2024",
	  .key = "92NFX-8DJQP-P6BBQ-THF9C-7CG2H" },
	{ .edition = "EnterpriseS", BUILDS(19044, 19044), .acor = -1,
	  .product = "Windows 10 Enterprise LTSC 2021",
	  .key = "M7XTQ-FN8P6-TTKYV-9D4CC-J462D" },
	{ .edition = "EnterpriseSN", BUILDS(19044, 19044), .acor = -1,
	  .product = "Windows 10 Enterprise N LTSC 2021",
	  .key = "92NFX-8DJQP-P6BBQ-THF9C-7CG2H" },
	{ .edition = "EnterpriseS", BUILDS(17763, 17763), .acor = -1,
	  .product = "Windows 10 Enterprise LTSC 2019",
	  .key = "M7XTQ-FN8P6-TTKYV-9D4CC-J462D" },
	{ .edition = "EnterpriseSN", BUILDS(17763, 17763), .acor = -1,
	  .product = "Windows 10 Enterprise N LTSC 2019",
	  .key = "92NFX-8DJQP-P6BBQ-THF9C-7CG2H" },
	{ .edition = "IoTEnterpriseS", BUILDS(26100, 26100), .acor = -1,
	  .product = "Windows IoT Enterprise LTSC 2024",
	  .key = "KBN8V-HFGQ4-MGXVD-347P6-PDQGT" },
	{ .edition = "IoTEnterpriseS", BUILDS(19044, 19044), .acor = -1,
	  .product = "Windows IoT Enterprise LTSC 2021",
	  .key = "KBN8V-HFGQ4-MGXVD-347P6-PDQGT" },
	{ .edition = "EnterpriseS", BUILDS(14393, 14393), .acor = -1,
	  .product = "Windows 10 Enterprise LTSB 2016",
	  .key = "DCPHK-NFMTC-H88MJ-PFHPY-QJ4BJ" },
	{ .edition = "EnterpriseSN", BUILDS(14393, 14393), .acor = -1,
	  .product = "Windows 10 Enterprise N LTSB 2016",
	  .key = "QFFDN-GRT3P-VKWWX-X7T3R-8B639" },
	{ .edition = "EnterpriseS", BUILDS(10240, 10240), .acor = -1,
	  .product = "Windows 10 Enterprise LTSB 2015",
	  .key = "WNMTR-4C88C-JK8YV-HQ7T2-76DF9" },
	{ .edition = "EnterpriseSN", BUILDS(10240, 10240), .acor = -1,
	  .product = "Windows 10 Enterprise N LTSB 2015",
	  .key = "2F77B-TNFGY-69QQF-B8YKP-D69TJ" },
	/* Windows 11 and Windows 10 (Semi-Annual Channel) */
	{ .edition = "Professional", ANY, .acor = -1,
	  .product = "Windows 11 Pro, Windows 10 Pro",
	  .key = "W269N-WFGWX-YVC9B-4J6C9-T83GX" },
	{ .edition = "ProfessionalN", ANY, .acor = -1,
	  .product = "Windows 11 Pro N, Windows 10 Pro N",
	  .key = "MH37W-N47XK-V7XM9-C7227-GCQG9" },
	{ .edition = "ProfessionalWorkstation", ANY, .acor = -1,
	  .product = "Windows 11 Pro for Workstations, "
		     "Windows 10 Pro for Workstations",
	  .key = "NRG8B-VKK3Q-CXVCJ-9G2XF-6Q84J" },
	{ .edition = "ProfessionalWorkstationN", ANY, .acor = -1,
	  .product = "Windows 11 Pro for Workstations N, "
		     "Windows 10 Pro for Workstations N",
	  .key = "9FNHH-K3HBT-3W4TD-6383H-6XYWF" },
	{ .edition = "ProfessionalEducation", ANY, .acor = -1,
	  .product = "Windows 11 Pro Education, Windows 10 Pro Education",
	  .key = "6TP4R-GNPTD-KYYHQ-7B7DP-J447Y" },
	{ .edition = "ProfessionalEducationN", ANY, .acor = -1,
	  .product = "Windows 11 Pro Education N, Windows 10 Pro Education N",
	  .key = "YVWGF-BXNMC-HTQYQ-CPQ99-66QFC" },
	{ .edition = "Education", ANY, .acor = -1,
	  .product = "Windows 11 Education, Windows 10 Education",
	  .key = "NW6C2-QMPVW-D7KKK-3GKT6-VCFB2" },
	{ .edition = "EducationN", ANY, .acor = -1,
	  .product = "Windows 11 Education N, Windows 10 Education N",
	  .key = "2WH4N-8QGBV-H22JP-CT43Q-MDWWJ" },
	{ .edition = "Enterprise", ANY, .acor = -1,
	  .product = "Windows 11 Enterprise, Windows 10 Enterprise",
	  .key = "NPPR9-FWDCX-D2C8J-H872K-2YT43" },
	{ .edition = "EnterpriseN", ANY, .acor = -1,
	  .product = "Windows 11 Enterprise N, Windows 10 Enterprise N",
	  .key = "DPH2V-TTNVB-4X9Q3-TJR4H-KHJW4" },
	{ .edition = "EnterpriseG", ANY, .acor = -1,
	  .product = "Windows 11 Enterprise G, Windows 10 Enterprise G",
	  .key = "YYVX9-NTFWV-6MDM3-9PT4T-4M68B" },
	{ .edition = "EnterpriseGN", ANY, .acor = -1,
	  .product = "Windows 11 Enterprise G N, Windows 10 Enterprise G N",
	  .key = "44RPN-FTY23-9VTTB-MP9BX-T84FV" },
	/* Earlier Windows client */
	{ .edition = "Professional", BUILDS(9600, 9600), .acor = -1,
	  .product = "Windows 8.1 Pro",
	  .key = "GCRJD-8NW9H-F2CDX-CCM8D-9D6T9" },
	{ .edition = "ProfessionalN", BUILDS(9600, 9600), .acor = -1,
	  .product = "Windows 8.1 Pro N",
	  .key = "HMCNV-VVBFX-7HMBH-CTY9B-B4FXY" },
	{ .edition = "Enterprise", BUILDS(9600, 9600), .acor = -1,
	  .product = "Windows 8.1 Enterprise",
	  .key = "MHF9N-XY6XB-WVXMC-BTDCT-MKKG7" },
	{ .edition = "EnterpriseN", BUILDS(9600, 9600), .acor = -1,
	  .product = "Windows 8.1 Enterprise N",
	  .key = "TT4HM-HN7YT-62K67-RGRQJ-JFFXW" },
	{ .edition = "Professional", BUILDS(9200, 9200), .acor = -1,
	  .product = "Windows 8 Pro",
	  .key = "NG4HW-VH26C-733KW-K6F98-J8CK4" },
	{ .edition = "ProfessionalN", BUILDS(9200, 9200), .acor = -1,
	  .product = "Windows 8 Pro N",
	  .key = "XCVCF-2NXM9-723PB-MHCB7-2RYQQ" },
	{ .edition = "Enterprise", BUILDS(9200, 9200), .acor = -1,
	  .product = "Windows 8 Enterprise",
	  .key = "32JNW-9KQ84-P47T8-D8GGY-CWCK7" },
	{ .edition = "EnterpriseN", BUILDS(9200, 9200), .acor = -1,
	  .product = "Windows 8 Enterprise N",
	  .key = "JMNMF-RHW7P-DMY6X-RF3DR-X2BQT" },
	{ .edition = "Professional", BUILDS(7600, 7601), .acor = -1,
	  .product = "Windows 7 Professional",
	  .key = "FJ82H-XT6CR-J8D7P-XQJJ2-GPDD4" },
	{ .edition = "ProfessionalN", BUILDS(7600, 7601), .acor = -1,
	  .product = "Windows 7 Professional N",
	  .key = "MRPKT-YTG23-K7D7T-X2JMM-QY7MG" },
	{ .edition = "ProfessionalE", BUILDS(7600, 7601), .acor = -1,
	  .product = "Windows 7 Professional E",
	  .key = "W82YF-2Q76Y-63HXB-FGJG9-GF7QX" },
	{ .edition = "Enterprise", BUILDS(7600, 7601), .acor = -1,
	  .product = "Windows 7 Enterprise",
	  .key = "33PXH-7Y6KF-2VJC9-XBBR8-HVTHH" },
	{ .edition = "EnterpriseN", BUILDS(7600, 7601), .acor = -1,
	  .product = "Windows 7 Enterprise N",
	  .key = "YDRBP-3D83W-TY26F-D46B2-XCKRJ" },
	{ .edition = "EnterpriseE", BUILDS(7600, 7601), .acor = -1,
	  .product = "Windows 7 Enterprise E",
	  .key = "C29WB-22CC8-VJ326-GHFJW-H9DH4" },
};

#define NTABLE (sizeof(table) / sizeof(*table))

const struct gvlk *
gvlk_table(unsigned *n)
{
	*n = NTABLE;
	return table;
}

const struct gvlk *
gvlk_find(const char *edition, unsigned build, struct kp_error *err)
{
	const struct gvlk *best = NULL;
	char ed[64];
	size_t n, i;
	int acor = 0;

	n = edition ? strlen(edition) : 0;
	if (n == 0 || n >= sizeof(ed)) {
		kp_fail(err, KP_ERR_REFUSED, "the edition is not known (no "
			"EditionID): no KMS client setup key can be chosen");
		return NULL;
	}
	memcpy(ed, edition, n + 1);
	/* Server Core: "ServerDatacenterCor", Semi-Annual "...ACor". */
	if (n > 4 && strncasecmp(ed, "Server", 6) == 0 &&
	    strcasecmp(ed + n - 4, "ACor") == 0) {
		ed[n - 4] = '\0';
		acor = 1;
	} else if (n > 3 && strncasecmp(ed, "Server", 6) == 0 &&
		   strcasecmp(ed + n - 3, "Cor") == 0) {
		ed[n - 3] = '\0';
	}
	for (i = 0; i < NTABLE; i++) {
		const struct gvlk *g = &table[i];

		if (strcasecmp(g->edition, ed) != 0 ||
		    (g->acor >= 0 && g->acor != acor))
			continue;
		if (build == 0) {
			/* The table is newest first within an edition. */
			if (best == NULL || g->min_build > best->min_build)
				best = g;
			continue;
		}
		if (build >= g->min_build && build <= g->max_build)
			return g;
	}
	if (best)
		return best;
	n = strlen(edition);
	if (n > 4 && strcasecmp(edition + n - 4, "Eval") == 0)
		kp_fail(err, KP_ERR_REFUSED, "edition %s is evaluation "
			"media's: it has no KMS client setup key until it is "
			"converted to a full edition (DISM /Set-Edition, "
			"https://learn.microsoft.com/en-us/windows-server/get-started/upgrade-conversion-options)",
			edition);
	else if (build)
		kp_fail(err, KP_ERR_REFUSED, "edition %s (build %u) has no KMS "
			"client setup key in Microsoft's table (%s): it cannot "
			"be a KMS client", edition, build, gvlk_source);
	else
		kp_fail(err, KP_ERR_REFUSED, "edition %s has no KMS client "
			"setup key in Microsoft's table (%s): it cannot be a "
			"KMS client", edition, gvlk_source);
	return NULL;
}

const struct gvlk *
gvlk_by_key(const char *key)
{
	size_t i;

	for (i = 0; key && i < NTABLE; i++)
		if (strcasecmp(table[i].key, key) == 0)
			return &table[i];
	return NULL;
}

bool
gvlk_is_public(const char *alnum25)
{
	char key[30];
	size_t i, n = 0;

	if (strlen(alnum25) != 25)
		return false;
	for (i = 0; i < 25; i++) {
		if (i && i % 5 == 0)
			key[n++] = '-';
		key[n++] = alnum25[i];
	}
	key[n] = '\0';
	return gvlk_by_key(key) != NULL;
}

/* The channel string in DigitalProductId4, found by its known prefixes
 * rather than at a fixed offset, whose layout Microsoft does not document:
 * UTF-16LE "Volume:", "Retail" or "OEM:", up to a NUL, printable ASCII. */
static void
channel(const unsigned char *d, size_t len, char *out, size_t size)
{
	static const char *const prefix[] = { "Volume:", "Retail", "OEM:" };
	size_t i, j, k, n;

	out[0] = '\0';
	for (i = 0; i + 1 < len; i += 2) {
		for (k = 0; k < 3; k++) {
			n = strlen(prefix[k]);
			if (len - i < 2 * n)
				continue;
			for (j = 0; j < n; j++)
				if (d[i + 2 * j] != (unsigned char)prefix[k][j] ||
				    d[i + 2 * j + 1] != 0)
					break;
			if (j == n)
				break;
		}
		if (k == 3)
			continue;
		for (j = 0; j + 1 < size && i + 2 * j + 1 < len; j++) {
			unsigned char c = d[i + 2 * j];

			if (d[i + 2 * j + 1] != 0 || c < 0x21 || c > 0x7e)
				break;
			out[j] = (char)c;
		}
		out[j] = '\0';
		return;
	}
}

int
gvlk_state_read(struct hive *software, struct gvlk_state *st,
		struct kp_error *err)
{
	struct hive_value v;
	struct buf key = BUF_INIT;
	hive_key k;
	int r;

	memset(st, 0, sizeof(*st));
	r = hive_find(software, "Microsoft\\Windows NT\\CurrentVersion", &k,
		      err);
	if (r < 0)
		return -1;
	if (r == 1) {
		r = hive_get(software, k, "DigitalProductId4", &v, err);
		if (r < 0)
			return -1;
		if (r == 1) {
			if (v.type == REGT_BINARY)
				channel(v.data, v.len, st->channel,
					sizeof(st->channel));
			hive_value_release(&v);
		}
	}
	r = hive_find(software, "Microsoft\\Windows NT\\CurrentVersion\\"
		      "SoftwareProtectionPlatform", &k, err);
	if (r <= 0)
		return r;
	r = hive_get(software, k, "BackupProductKeyDefault", &v, err);
	if (r <= 0)
		return r;
	st->has_key = true;
	if ((v.type == REGT_SZ || v.type == REGT_EXPAND_SZ) &&
	    regval_get_sz(v.data, v.len, &key) == 0)
		st->installed = gvlk_by_key(buf_str(&key));
	/* The key may be an organization's: wiped, never kept. */
	buf_wipe(&key);
	OPENSSL_cleanse(v.data, v.len);
	hive_value_release(&v);
	return 0;
}

bool
gvlk_state_volume(const struct gvlk_state *st)
{
	return st->installed ||
	       strncasecmp(st->channel, "Volume:", 7) == 0;
}
