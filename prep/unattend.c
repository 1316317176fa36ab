/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Answer files: SkipRearm in the generalize pass, through libxml2. */
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "lib/utf.h"
#include "gvlk.h"
#include "unattend.h"

#define NS_UNATTEND "urn:schemas-microsoft-com:unattend"
#define NS_WCM "http://schemas.microsoft.com/WMIConfig/2002/State"
#define NS_XSI "http://www.w3.org/2001/XMLSchema-instance"
#define SPP_COMPONENT "Microsoft-Windows-Security-SPP"
/* Its ProductKey (specialize pass) is the key Setup installs for
 * activation: https://learn.microsoft.com/windows-hardware/customize/desktop/unattend/microsoft-windows-shell-setup-productkey */
#define SHELL_COMPONENT "Microsoft-Windows-Shell-Setup"

#define X(s) ((const xmlChar *)(s))

static bool
is_elem(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE &&
	       xmlStrcmp(n->name, X(name)) == 0 &&
	       (n->ns == NULL || xmlStrcmp(n->ns->href, X(NS_UNATTEND)) == 0);
}

static bool
attr_is(xmlNode *n, const char *attr, const char *value)
{
	xmlChar *v = xmlGetProp(n, X(attr));
	bool r = v && xmlStrcasecmp(v, X(value)) == 0;

	xmlFree(v);
	return r;
}

static int
parse(const char *data, size_t len, const char *name, xmlDoc **doc_ret,
      struct kp_error *err)
{
	const xmlError *e;
	xmlDoc *doc;
	xmlNode *root;

	*doc_ret = NULL;
	if (len > UNATTEND_MAX)
		return kp_fail(err, KP_ERR_INPUT,
			       "'%s': answer file larger than %zu bytes", name,
			       UNATTEND_MAX);
	/* No network, no DTD loading, no entity substitution. */
	xmlResetLastError();
	doc = xmlReadMemory(data, (int)len, name, NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR |
				    XML_PARSE_NOWARNING);
	if (doc == NULL) {
		const char *m;
		int n;

		e = xmlGetLastError();
		m = e && e->message ? e->message : "invalid XML";
		/* libxml2 ends its messages with a newline. */
		n = (int)strcspn(m, "\n");
		return kp_fail(err, KP_ERR_INPUT,
			       "'%s': not a valid answer file: line %d: %.*s",
			       name, e ? e->line : 0, n, m);
	}
	if (doc->intSubset || doc->extSubset) {
		xmlFreeDoc(doc);
		return kp_fail(err, KP_ERR_INPUT,
			       "'%s': answer files have no DOCTYPE; refused",
			       name);
	}
	root = xmlDocGetRootElement(doc);
	if (!is_elem(root, "unattend")) {
		xmlFreeDoc(doc);
		return kp_fail(err, KP_ERR_INPUT,
			       "'%s': not an answer file (the root element is "
			       "not <unattend>)", name);
	}
	*doc_ret = doc;
	return 0;
}

/* A pass NAME Windows would still run: a pass already processed
 * (annotated by Setup in the cached file) is skipped, and Setup goes on to
 * the next answer file. */
static bool
live_pass(xmlNode *n, const char *name)
{
	return is_elem(n, "settings") && attr_is(n, "pass", name) &&
	       !attr_is(n, "wasPassProcessed", "true");
}

static bool
live_generalize(xmlNode *n)
{
	return live_pass(n, "generalize");
}

static xmlNode *
first_pass(xmlNode *root, const char *name)
{
	xmlNode *n;

	for (n = root->children; n; n = n->next)
		if (live_pass(n, name))
			return n;
	return NULL;
}

static xmlNode *
generalize_pass(xmlNode *root)
{
	return first_pass(root, "generalize");
}

static bool
is_spp(xmlNode *n)
{
	return is_elem(n, "component") && attr_is(n, "name", SPP_COMPONENT);
}

/* Component NAME of PASS for ARCH. */
static xmlNode *
component(xmlNode *pass, const char *name, const char *arch)
{
	xmlNode *n;

	for (n = pass ? pass->children : NULL; n; n = n->next)
		if (is_elem(n, "component") && attr_is(n, "name", name) &&
		    attr_is(n, "processorArchitecture", arch))
			return n;
	return NULL;
}

static xmlNode *
child(xmlNode *n, const char *name)
{
	for (n = n ? n->children : NULL; n; n = n->next)
		if (is_elem(n, name))
			return n;
	return NULL;
}

/* SkipRearm's value: anything but 0 counts as 1, the way that keeps the
 * licensing state. */
static int
skip_value(xmlNode *skip)
{
	xmlChar *v = xmlNodeGetContent(skip);
	const char *p = (const char *)v;
	size_t n;
	int r;

	while (p && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	n = p ? strcspn(p, " \t\r\n") : 0;
	r = n == 1 && p[0] == '0' && p[1 + strspn(p + 1, " \t\r\n")] == '\0' ?
		    0 : 1;
	xmlFree(v);
	return r;
}

/* Calls FN on every SkipRearm of every SPP component in every live
 * generalize pass. */
static void
each_skip(xmlNode *root, void (*fn)(xmlNode *comp, xmlNode *skip, void *ud),
	  void *ud)
{
	xmlNode *pass, *comp, *skip;

	for (pass = root->children; pass; pass = pass->next) {
		if (!live_generalize(pass))
			continue;
		for (comp = pass->children; comp; comp = comp->next) {
			if (!is_spp(comp))
				continue;
			for (skip = comp->children; skip; skip = skip->next)
				if (is_elem(skip, "SkipRearm"))
					fn(comp, skip, ud);
		}
	}
}

static void
inspect_one(xmlNode *comp, xmlNode *skip, void *ud)
{
	struct unattend_info *info = ud;
	int v = skip_value(skip);

	/* A 1 anywhere wins: it is the value that does harm. */
	if (v > info->skip_rearm) {
		xmlChar *a = xmlGetProp(comp, X("processorArchitecture"));

		info->skip_rearm = v;
		snprintf(info->arch, sizeof(info->arch), "%s",
			 a ? (const char *)a : "");
		xmlFree(a);
	}
}

static int trimmed(xmlNode *e, struct buf *out);

/* The specialize pass's ProductKey, for any architecture: only a key of
 * Microsoft's public table is kept to be shown. */
static int
inspect_key(xmlNode *root, struct unattend_info *info)
{
	xmlNode *pass = first_pass(root, "specialize"), *n, *e = NULL;
	struct buf key = BUF_INIT;
	const struct gvlk *g;

	for (n = pass ? pass->children : NULL; n && !e; n = n->next)
		if (is_elem(n, "component") &&
		    attr_is(n, "name", SHELL_COMPONENT))
			e = child(n, "ProductKey");
	if (e == NULL)
		return 0;
	if (trimmed(e, &key) < 0)
		return -1;
	g = key.len ? gvlk_by_key(buf_str(&key)) : NULL;
	info->product_key = !key.len ? UNATTEND_KEY_NONE :
			    g ? UNATTEND_KEY_GVLK : UNATTEND_KEY_OTHER;
	if (g)
		snprintf(info->gvlk, sizeof(info->gvlk), "%s", g->key);
	buf_wipe(&key);
	return 0;
}

int
unattend_inspect(const char *data, size_t len, const char *name,
		 struct unattend_info *info, struct kp_error *err)
{
	xmlDoc *doc;
	int r;

	memset(info, 0, sizeof(*info));
	info->skip_rearm = -1;
	if (parse(data, len, name, &doc, err) < 0)
		return -1;
	info->generalize = generalize_pass(xmlDocGetRootElement(doc)) != NULL;
	each_skip(xmlDocGetRootElement(doc), inspect_one, info);
	r = inspect_key(xmlDocGetRootElement(doc), info);
	xmlFreeDoc(doc);
	return r < 0 ? kp_fail_oom(err) : 0;
}

/* Whitespace before N on its line (its indentation), or DEF. */
static const char *
indent_of(xmlNode *n, char *buf, size_t sz, const char *def)
{
	xmlNode *p = n ? n->prev : NULL;
	const char *nl;

	if (p && p->type == XML_TEXT_NODE && p->content &&
	    (nl = strrchr((const char *)p->content, '\n'))) {
		snprintf(buf, sz, "%s", nl + 1);
		return buf;
	}
	return def;
}

/* Append ELEM to PARENT on a line of its own, indented by IND, keeping the
 * parent's closing tag where it was. */
static void
append_indented(xmlNode *parent, xmlNode *elem, const char *ind,
		const char *closing_ind)
{
	char text[80];
	xmlNode *last = parent->last;

	snprintf(text, sizeof(text), "\n%s", ind);
	if (last && last->type == XML_TEXT_NODE && xmlIsBlankNode(last)) {
		/* Element first: libxml2 merges adjacent text nodes, so the
		 * indentation must go before the element, not the blank. */
		xmlAddPrevSibling(last, elem);
		xmlAddPrevSibling(elem, xmlNewText(X(text)));
	} else {
		xmlAddChild(parent, xmlNewText(X(text)));
		xmlAddChild(parent, elem);
		snprintf(text, sizeof(text), "\n%s", closing_ind);
		xmlAddChild(parent, xmlNewText(X(text)));
	}
}

/* The passes in the schema's order. */
static const char *const pass_order[] = {
	"windowsPE", "offlineServicing", "generalize", "specialize",
	"auditSystem", "auditUser", "oobeSystem",
};

static int
pass_rank(const xmlChar *name)
{
	size_t i;

	for (i = 0; name && i < sizeof(pass_order) / sizeof(*pass_order); i++)
		if (xmlStrEqual(name, X(pass_order[i])))
			return (int)i;
	return -1;
}

/* Put a new pass NAME where the schema has it: before the later passes
 * and before anything that is not a pass (cpi:offlineImage). */
static void
insert_pass(xmlNode *root, xmlNode *pass, const char *name, const char *ind)
{
	int rank = pass_rank(X(name));
	char text[80];
	xmlNode *n;

	for (n = root->children; n; n = n->next) {
		xmlChar *p;
		bool after = false;

		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (!xmlStrEqual(n->name, X("settings"))) {
			if (xmlStrEqual(n->name, X("servicing")))
				continue;
			break;
		}
		p = xmlGetProp(n, X("pass"));
		after = pass_rank(p) > rank;
		xmlFree(p);
		if (after)
			break;
	}
	if (n == NULL) {
		append_indented(root, pass, ind, "");
		return;
	}
	snprintf(text, sizeof(text), "\n%s", ind);
	xmlAddPrevSibling(n, pass);
	xmlAddPrevSibling(n, xmlNewText(X(text)));
}

static xmlNode *
new_component(xmlDoc *doc, xmlNs *ns, const char *name, const char *arch)
{
	xmlNode *c = xmlNewDocNode(doc, ns, X("component"), NULL);

	xmlSetProp(c, X("name"), X(name));
	xmlSetProp(c, X("processorArchitecture"), X(arch));
	xmlSetProp(c, X("publicKeyToken"), X("31bf3856ad364e35"));
	xmlSetProp(c, X("language"), X("neutral"));
	xmlSetProp(c, X("versionScope"), X("nonSxS"));
	xmlNewNs(c, X(NS_WCM), X("wcm"));
	xmlNewNs(c, X(NS_XSI), X("xsi"));
	return c;
}

/* Serialize DOC as the original was: encoding, CRLF, byte order mark. */
static int
dump(xmlDoc *doc, const char *orig, size_t len, struct buf *out,
     struct kp_error *err)
{
	bool utf16 = len >= 2 && (unsigned char)orig[0] == 0xff &&
		     (unsigned char)orig[1] == 0xfe;
	bool crlf = utf16 ? memmem(orig, len, "\r\0\n\0", 4) != NULL :
			    memmem(orig, len, "\r\n", 2) != NULL;
	bool bom8 = len >= 3 && memcmp(orig, "\xef\xbb\xbf", 3) == 0;
	xmlChar *mem = NULL;
	struct buf u8 = BUF_INIT;
	int size = 0, i, r = -1;

	/* Always out as UTF-8 first; UTF-16 is made from it below. */
	xmlDocDumpFormatMemoryEnc(doc, &mem, &size, "UTF-8", 0);
	if (mem == NULL)
		return kp_fail(err, KP_ERR_FAIL, "cannot write the answer file");
	if (utf16) {
		/* The declaration must name the encoding the bytes are in. */
		const char *d = strstr((const char *)mem, "encoding=\"UTF-8\"");

		if (d && d - (const char *)mem < 80) {
			if (buf_add(&u8, mem, (size_t)(d - (const char *)mem)) < 0 ||
			    buf_addstr(&u8, "encoding=\"UTF-16\"") < 0 ||
			    buf_addstr(&u8, d + 16) < 0)
				goto oom;
		} else if (buf_add(&u8, mem, (size_t)size) < 0) {
			goto oom;
		}
	} else {
		if (bom8 && buf_add(&u8, "\xef\xbb\xbf", 3) < 0)
			goto oom;
		if (buf_add(&u8, mem, (size_t)size) < 0)
			goto oom;
	}
	buf_reset(out);
	if (utf16 && buf_add(out, "\xff\xfe", 2) < 0)
		goto oom;
	for (i = 0; (size_t)i < u8.len; i++) {
		if (u8.data[i] == '\n' && crlf) {
			if (utf16 ? utf8_to_utf16le("\r", 1, out) < 0 :
				    buf_addch(out, '\r') < 0)
				goto oom;
		}
		if (!utf16 && buf_addch(out, u8.data[i]) < 0)
			goto oom;
		if (utf16) {
			/* Find the end of this UTF-8 sequence. */
			int n = 1;

			while ((size_t)(i + n) < u8.len &&
			       ((unsigned char)u8.data[i + n] & 0xc0) == 0x80)
				n++;
			if (utf8_to_utf16le(u8.data + i, (size_t)n, out) < 0)
				goto oom;
			i += n - 1;
		}
	}
	r = 0;
	goto out;
oom:
	kp_fail_oom(err);
out:
	xmlFree(mem);
	buf_release(&u8);
	return r;
}

/*
 * Keeping the text.  libxml2 rewrites what it serializes: the XML
 * declaration, namespace declarations moved first in each start tag,
 * "<X />" as "<X/>".  A file kept in version control would then show a
 * diff on lines nobody changed.  So the original's lines are kept where
 * libxml2's output of the edited document (B) equals its output of the
 * unedited one (A), line for line, and only B's changed and added lines
 * are taken.  Done by hand (no diff library in Debian's C stack that fits
 * a few hundred lines); checked by parsing the result back.
 */
struct lines {
	const char **p;
	size_t *n;		/* length without the line ending */
	size_t count;
};

static int
split(const char *t, size_t len, struct lines *l)
{
	size_t i, start = 0, cap = 0;

	memset(l, 0, sizeof(*l));
	for (i = 0; i <= len; i++) {
		size_t n;

		if (i < len && t[i] != '\n')
			continue;
		if (i == len && start == len)
			break;
		if (l->count == cap) {
			size_t c2 = cap ? cap * 2 : 64;
			const char **p2 = realloc(l->p, c2 * sizeof(*p2));
			size_t *n2;

			if (p2 == NULL)
				return -1;
			l->p = p2;
			n2 = realloc(l->n, c2 * sizeof(*n2));
			if (n2 == NULL)
				return -1;
			l->n = n2;
			cap = c2;
		}
		n = i - start;
		if (n && t[start + n - 1] == '\r')
			n--;
		l->p[l->count] = t + start;
		l->n[l->count++] = n;
		start = i + 1;
	}
	return 0;
}

static void
lines_free(struct lines *l)
{
	free(l->p);
	free(l->n);
}

static bool
line_eq(const struct lines *a, size_t i, const struct lines *b, size_t j)
{
	return a->n[i] == b->n[j] && memcmp(a->p[i], b->p[j], a->n[i]) == 0;
}

/* Original line I of O, with its own line ending (if it has one). */
static int
emit_orig(const char *o, size_t olen, const struct lines *ol, size_t i,
	  struct buf *out)
{
	const char *end = i + 1 < ol->count ? ol->p[i + 1] : o + olen;

	return buf_add(out, ol->p[i], (size_t)(end - ol->p[i]));
}

static int
emit_new(const struct lines *b, size_t j, bool crlf, struct buf *out)
{
	return buf_add(out, b->p[j], b->n[j]) < 0 ||
	       buf_addstr(out, crlf ? "\r\n" : "\n") < 0 ? -1 : 0;
}

/* OUT = the original O (UTF-8) with B's changes from A.  -1 when the lines
 * do not correspond (the caller then writes B as it is). */
static int
keep_text(const char *o, size_t olen, const char *a, size_t alen,
	  const char *b, size_t blen, struct buf *out)
{
	struct lines ol = { 0 }, al = { 0 }, bl = { 0 };
	size_t i, j, k, off = 0;
	bool crlf = memmem(o, olen, "\r\n", 2) != NULL;
	int r = -1;

	if (split(o, olen, &ol) < 0 || split(a, alen, &al) < 0 ||
	    split(b, blen, &bl) < 0)
		goto out;
	/* libxml2 adds a declaration a file may not have. */
	if (al.count == ol.count + 1 && al.count && al.n[0] >= 5 &&
	    memcmp(al.p[0], "<?xml", 5) == 0)
		off = 1;
	if (al.count != ol.count + off || bl.count < al.count)
		goto out;
	for (i = 0; i < off; i++)
		if (!line_eq(&al, i, &bl, i))
			goto out;
	buf_reset(out);
	for (i = j = off; i < al.count && j < bl.count;) {
		if (line_eq(&al, i, &bl, j)) {
			if (emit_orig(o, olen, &ol, i - off, out) < 0)
				goto out;
			i++;
			j++;
			continue;
		}
		/* Lines added before this one, or this one changed. */
		for (k = j + 1; k < bl.count && k < j + 256; k++)
			if (line_eq(&al, i, &bl, k))
				break;
		if (k < bl.count && k < j + 256) {
			for (; j < k; j++)
				if (emit_new(&bl, j, crlf, out) < 0)
					goto out;
			continue;
		}
		if (emit_new(&bl, j, crlf, out) < 0)
			goto out;
		i++;
		j++;
	}
	if (i < al.count)
		goto out;
	/* The original's last line may have had no line ending. */
	for (; j < bl.count; j++)
		if (emit_new(&bl, j, crlf, out) < 0)
			goto out;
	r = 0;
out:
	lines_free(&ol);
	lines_free(&al);
	lines_free(&bl);
	return r;
}

/* libxml2's UTF-8 serialization of DOC into OUT. */
static int
dump_utf8(xmlDoc *doc, struct buf *out)
{
	xmlChar *mem = NULL;
	int size = 0, r;

	xmlDocDumpFormatMemoryEnc(doc, &mem, &size, "UTF-8", 0);
	if (mem == NULL)
		return -1;
	buf_reset(out);
	r = buf_add(out, mem, (size_t)size);
	xmlFree(mem);
	return r;
}

/* The edited document DOC written as ORIG with only the lines it must
 * changed (BEFORE: libxml2's output of ORIG unedited), if ORIG is UTF-8
 * and the result reads back as DOC; else libxml2's own output. */
static int
write_back(xmlDoc *doc, const struct buf *before, const char *orig,
	   size_t len, const char *name, struct buf *out,
	   struct kp_error *err)
{
	struct buf after = BUF_INIT, merged = BUF_INIT, check = BUF_INIT;
	xmlDoc *back = NULL;
	struct kp_error ignored = KP_ERROR_INIT;
	bool utf16 = len >= 2 && (unsigned char)orig[0] == 0xff &&
		     (unsigned char)orig[1] == 0xfe;
	int r;

	if (!utf16 && before->len && dump_utf8(doc, &after) == 0 &&
	    keep_text(orig, len, before->data, before->len, after.data,
		      after.len, &merged) == 0 &&
	    parse(merged.data, merged.len, name, &back, &ignored) == 0 &&
	    dump_utf8(back, &check) == 0 && check.len == after.len &&
	    memcmp(check.data, after.data, after.len) == 0) {
		buf_reset(out);
		r = buf_add(out, merged.data, merged.len) < 0 ?
			    kp_fail_oom(err) : 0;
	} else {
		r = dump(doc, orig, len, out, err);
	}
	if (back)
		xmlFreeDoc(back);
	buf_release(&after);
	buf_release(&merged);
	buf_release(&check);
	return r;
}

static void
set_zero(xmlNode *comp, xmlNode *skip, void *ud)
{
	bool *changed = ud;

	(void)comp;
	if (skip_value(skip) != 0) {
		xmlNodeSetContent(skip, X("0"));
		*changed = true;
	}
}

/* Element ELEM of component COMP for ARCH in the first live pass PASS of
 * DOC: made with text VALUE if missing, with the pass and the component as
 * needed, indented as the file has them (*MADE set then). */
static xmlNode *
setting(xmlDoc *doc, const char *pass_name, const char *comp_name,
	const char *arch, const char *elem, const char *value, bool *made)
{
	xmlNode *root = xmlDocGetRootElement(doc), *pass, *comp, *e;
	char b1[64], b2[64], b3[96], ind[80];
	const char *i1, *i2;

	pass = first_pass(root, pass_name);
	comp = component(pass, comp_name, arch);
	e = child(comp, elem);
	if (e)
		return e;
	/* Indentation as the file has it: pass, component, setting. */
	i1 = indent_of(pass, b1, sizeof(b1), "    ");
	if (pass == NULL) {
		xmlNode *first = root->children;

		while (first && first->type != XML_ELEMENT_NODE)
			first = first->next;
		i1 = indent_of(first, b1, sizeof(b1), "  ");
		pass = xmlNewDocNode(doc, root->ns, X("settings"), NULL);
		xmlSetProp(pass, X("pass"), X(pass_name));
		insert_pass(root, pass, pass_name, i1);
	}
	/* The pass's indentation is one step (two spaces if none). */
	snprintf(ind, sizeof(ind), "%s%s", i1, i1[0] ? i1 : "  ");
	/* A new component as the pass's others are indented. */
	e = comp;
	for (e = e ? e : pass->children; e && e->type != XML_ELEMENT_NODE;)
		e = e->next;
	i2 = indent_of(e, b2, sizeof(b2), ind);
	if (comp == NULL) {
		comp = new_component(doc, root->ns, comp_name, arch);
		append_indented(pass, comp, i2, i1);
	}
	snprintf(b3, sizeof(b3), "%s%s", i2, i1[0] ? i1 : "  ");
	e = xmlNewDocNode(doc, root->ns, X(elem), X(value));
	append_indented(comp, e, b3, i2);
	*made = true;
	return e;
}

int
unattend_set_skip_rearm0(const char *data, size_t len, const char *name,
			 const char *arch, struct buf *out, bool *changed,
			 struct kp_error *err)
{
	struct unattend_info check;
	struct buf before = BUF_INIT;
	xmlDoc *doc;
	int r;

	*changed = false;
	buf_reset(out);
	if (parse(data, len, name, &doc, err) < 0)
		return -1;
	if (dump_utf8(doc, &before) < 0)
		buf_reset(&before);	/* libxml2's own output, then */
	/* Every SkipRearm of every live generalize pass, whatever its
	 * architecture, then the image's own in the first pass. */
	each_skip(xmlDocGetRootElement(doc), set_zero, changed);
	setting(doc, "generalize", SPP_COMPONENT, arch, "SkipRearm", "0",
		changed);
	r = *changed ? write_back(doc, &before, data, len, name, out, err) : 0;
	xmlFreeDoc(doc);
	buf_release(&before);
	if (r < 0 || !*changed)
		return r;
	/* What was written must say 0 everywhere, for ARCH too. */
	if (unattend_inspect(out->data, out->len, name, &check, err) < 0 ||
	    check.skip_rearm != 0 || !check.generalize)
		return kp_fail(err, KP_ERR_FAIL, "'%s': the edited answer "
			       "file does not read back with SkipRearm 0",
			       name);
	return 0;
}

/* The text of E without surrounding white space, into OUT ("" if none). */
static int
trimmed(xmlNode *e, struct buf *out)
{
	xmlChar *v = e ? xmlNodeGetContent(e) : NULL;
	const char *p = v ? (const char *)v : "";
	size_t n;
	int r;

	p += strspn(p, " \t\r\n");
	for (n = strlen(p); n && strchr(" \t\r\n", p[n - 1]); n--)
		;
	buf_reset(out);
	r = buf_add(out, p, n);
	if (v) {
		/* It may be an organization's key. */
		memset(v, 0, (size_t)xmlStrlen(v));
		xmlFree(v);
	}
	return r;
}

int
unattend_set_product_key(const char *data, size_t len, const char *name,
			 const char *arch, const char *key, bool replace,
			 struct buf *out, bool *changed, struct buf *found,
			 struct kp_error *err)
{
	struct buf before = BUF_INIT, check = BUF_INIT;
	xmlDoc *doc;
	xmlNode *e;
	bool made = false;
	int r = 0;

	*changed = false;
	buf_reset(out);
	buf_wipe(found);
	if (parse(data, len, name, &doc, err) < 0)
		return -1;
	if (dump_utf8(doc, &before) < 0)
		buf_reset(&before);
	e = setting(doc, "specialize", SHELL_COMPONENT, arch, "ProductKey",
		    key, &made);
	if (!made) {
		if (trimmed(e, found) < 0) {
			r = kp_fail_oom(err);
			goto out;
		}
		if (strcasecmp(buf_str(found), key) != 0 && replace) {
			xmlNodeSetContent(e, X(key));
			made = true;
		}
	}
	*changed = made;
	if (made)
		r = write_back(doc, &before, data, len, name, out, err);
out:
	xmlFreeDoc(doc);
	buf_release(&before);
	if (r < 0 || !made)
		return r;
	/* What was written must hold KEY where Setup reads it. */
	if (parse(out->data, out->len, name, &doc, err) < 0)
		return -1;
	made = false;
	e = child(component(first_pass(xmlDocGetRootElement(doc),
				       "specialize"), SHELL_COMPONENT, arch),
		  "ProductKey");
	r = e && trimmed(e, &check) == 0 &&
	    strcmp(buf_str(&check), key) == 0 ? 0 : -1;
	xmlFreeDoc(doc);
	buf_release(&check);
	return r < 0 ? kp_fail(err, KP_ERR_FAIL, "'%s': the edited answer "
			       "file does not read back with the product "
			       "key", name) : 0;
}

int
unattend_new(const char *arch, struct buf *out, struct kp_error *err)
{
	static const char tmpl[] =
		"<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n"
		"<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\r\n"
		"</unattend>\r\n";
	bool changed;

	return unattend_set_skip_rearm0(tmpl, sizeof(tmpl) - 1, "new file",
					arch, out, &changed, err);
}
