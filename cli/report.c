/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Text and JSON rendering of hive reports and changes. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "report.h"

/* Text from a hive, a log or the command line is shown with its control
 * characters escaped (lib/escape.h): ESC [ 2 J in a ProductName must not
 * clear the terminal.  JSON is escaped by jansson. */

json_t *
report_value_json(uint32_t type, const unsigned char *d, size_t len)
{
	struct buf s = BUF_INIT;
	char **list;
	uint32_t dw;
	size_t n, i;
	json_t *j = NULL;

	switch (type) {
	case REGT_SZ:
	case REGT_EXPAND_SZ:
		if (regval_get_sz(d, len, &s) == 0)
			j = json_string(buf_str(&s));
		buf_release(&s);
		break;
	case REGT_DWORD:
		if (regval_get_dword(d, len, &dw) == 0)
			j = json_integer(dw);
		break;
	case REGT_MULTI_SZ:
		if (regval_get_multi_sz(d, len, &list, &n) == 0) {
			j = json_array();
			for (i = 0; i < n && j; i++)
				json_array_append_new(j, json_string(list[i]));
			regval_free_list(list);
		}
		break;
	default:
		break;
	}
	if (j == NULL) {
		for (i = 0; i < len; i++)
			buf_addf(&s, "%02x", d[i]);
		j = json_string(buf_str(&s));
		buf_release(&s);
	}
	return j;
}

static json_t *
str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *
items_json(const struct spp_item *items, size_t n)
{
	json_t *a = json_array();
	char tn[32];
	size_t i, k;

	for (i = 0; i < n; i++) {
		const struct spp_item *it = &items[i];
		json_t *o = json_object();

		json_object_set_new(o, "name", json_string(it->name));
		if (it->def && it->def->subkey)
			json_object_set_new(o, "subkey",
					    json_string(it->def->subkey));
		json_object_set_new(o, "type", json_string(regval_type_name(
					    it->type, tn, sizeof(tn))));
		if (it->secret) {
			json_object_set_new(o, "secret", json_true());
			json_array_append_new(a, o);
			continue;
		}
		json_object_set_new(o, "value", report_value_json(it->type,
								  it->data,
								  it->len));
		if (it->def && it->def->type != it->type)
			json_object_set_new(o, "unexpected_type", json_true());
		if (it->def && it->type == REGT_MULTI_SZ &&
		    strcmp(it->name, "DnsDomainPublishList") == 0) {
			json_t *entries = json_array();
			char **list;
			size_t m;

			if (regval_get_multi_sz(it->data, it->len, &list,
						&m) == 0) {
				for (k = 0; k < m; k++) {
					struct spp_publish p;
					json_t *e = json_object();

					if (spp_parse_publish(list[k], &p,
							      NULL) < 0) {
						json_object_set_new(e, "invalid",
							json_string(list[k]));
					} else {
						json_object_set_new(e, "domain",
							json_string(p.domain));
						json_object_set_new(e, "priority",
							json_integer(p.priority));
						json_object_set_new(e, "weight",
							json_integer(p.weight));
					}
					json_array_append_new(entries, e);
				}
				regval_free_list(list);
			}
			json_object_set_new(o, "entries", entries);
		}
		json_array_append_new(a, o);
	}
	return a;
}

static const char *
format_name(unsigned f)
{
	return f == 6 ? "new" : f == 1 ? "old" : "unknown";
}

static json_t *
logs_json(const struct hive_state *st)
{
	json_t *o = json_object();
	int i;

	for (i = 0; i < 2; i++) {
		const struct logrec_log *L = &st->logs.log[i];
		json_t *l = json_object();

		json_object_set_new(l, "present", json_boolean(L->present));
		if (L->present) {
			json_object_set_new(l, "valid", json_boolean(L->valid));
			if (L->valid) {
				json_object_set_new(l, "format", json_string(
						    format_name(L->format)));
				json_object_set_new(l, "sequence",
						    json_integer(L->seq));
			}
			json_object_set_new(l, "applied",
					    json_integer((json_int_t)L->applied));
			if (L->why[0])
				json_object_set_new(l, "note",
						    json_string(L->why));
		}
		json_object_set_new(o, i ? "LOG2" : "LOG1", l);
	}
	return o;
}

json_t *
report_hive_json(const struct hive_report *r)
{
	json_t *o = json_object(), *w, *prods;
	const struct hive_state *st = r->st;
	size_t i;

	json_object_set_new(o, "hive", json_string(r->label));
	json_object_set_new(o, "dirty", json_boolean(st->dirty));
	json_object_set_new(o, "sequence",
			    json_pack("[ii]", st->hdr.seq1, st->hdr.seq2));
	json_object_set_new(o, "checksum_ok",
			    json_boolean(st->hdr.checksum_ok));
	json_object_set_new(o, "recovered_from_logs",
			    json_boolean(st->recovered));
	if (st->recovered) {
		json_object_set_new(o, "log_entries_applied",
				    json_integer((json_int_t)st->logs.applied));
		json_object_set_new(o, "log_damage", st->logs.damage[0] ?
				    json_string(st->logs.damage) : json_null());
	} else if (st->dirty)
		json_object_set_new(o, "logs_unusable_because",
				    json_string(st->logs.why));
	json_object_set_new(o, "logs", logs_json(st));
	json_object_set_new(o, "duplicate_subkeys", !st->stats.dup_keys ?
			    json_null() :
			    json_pack("{s:I, s:s, s:s}", "keys",
				      (json_int_t)st->stats.dup_keys, "first_key",
				      st->dup_key, "name", st->dup_name));
	if (r->ver && r->ver->present) {
		w = json_object();
		json_object_set_new(w, "ProductName",
				    str_or_null(r->ver->product));
		json_object_set_new(w, "CurrentBuildNumber",
				    str_or_null(r->ver->build));
		json_object_set_new(w, "EditionID",
				    str_or_null(r->ver->edition));
		json_object_set_new(w, "InstallationType",
				    str_or_null(r->ver->install_type));
		json_object_set_new(w, "CurrentVersion",
				    str_or_null(r->ver->version));
		json_object_set_new(w, "major", json_integer(r->ver->major));
		json_object_set_new(w, "minor", json_integer(r->ver->minor));
		json_object_set_new(o, "windows", w);
	} else {
		json_object_set_new(o, "windows", json_null());
	}
	if (r->spp) {
		json_object_set_new(o, "spp_key", json_string(r->spp->root));
		json_object_set_new(o, "spp_key_present",
				    json_boolean(r->spp->root_present));
		json_object_set_new(o, "settings",
				    items_json(r->spp->items, r->spp->n));
		prods = json_array();
		for (i = 0; i < r->spp->nproducts; i++) {
			const struct spp_product *p = &r->spp->products[i];

			json_array_append_new(prods, json_pack(
				"{s:s, s:o, s:o}", "application", p->app,
				"activation_id",
				p->act[0] ? json_string(p->act) : json_null(),
				"settings", items_json(p->items, p->n)));
		}
		json_object_set_new(o, "products", prods);
	}
	if (r->office)
		json_object_set_new(o, "office", report_office_json(r->office));
	return o;
}

static void
items_text(FILE *f, const struct spp_item *items, size_t n, const char *ind)
{
	struct buf s = BUF_INIT, e = BUF_INIT, e2 = BUF_INIT;
	char tn[32], name[80];
	size_t i, k;

	for (i = 0; i < n; i++) {
		const struct spp_item *it = &items[i];

		snprintf(name, sizeof(name), "%s%s%s",
			 it->def && it->def->subkey ? it->def->subkey : "",
			 it->def && it->def->subkey ? "\\" : "", it->name);
		fprintf(f, "%s  %-39s %-13s ", ind, kp_escape_str(&e, name),
			regval_type_name(it->type, tn, sizeof(tn)));
		if (it->secret) {
			fputs("(present; holds a product key, not shown)\n", f);
			continue;
		}
		buf_reset(&s);
		regval_format(it->type, it->data, it->len, &s);
		fprintf(f, "%s\n", kp_escape_str(&e, buf_str(&s)));
		if (strcmp(it->name, "DnsDomainPublishList") == 0 &&
		    it->type == REGT_MULTI_SZ) {
			char **list;
			size_t m;

			if (regval_get_multi_sz(it->data, it->len, &list,
						&m) < 0)
				continue;
			for (k = 0; k < m; k++) {
				struct spp_publish p;

				if (spp_parse_publish(list[k], &p, NULL) < 0)
					fprintf(f, "%s      (not a valid entry: "
						"\"%s\")\n", ind,
						kp_escape_str(&e, list[k]));
				else
					fprintf(f, "%s      %s priority %u "
						"weight %u\n", ind,
						kp_escape_str(&e2, p.domain),
						p.priority, p.weight);
			}
			regval_free_list(list);
		}
	}
	buf_release(&s);
	buf_release(&e);
	buf_release(&e2);
}

void
report_hive_text(FILE *f, const struct hive_report *r, const char *ind)
{
	const struct hive_state *st = r->st;
	const struct winver *v = r->ver;
	struct buf e[4] = { BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT };
	size_t i;
	int l;

	fprintf(f, "%shive: %s\n", ind, kp_escape_str(&e[0], r->label));
	if (!st->dirty)
		fprintf(f, "%sstate: clean (sequence %u/%u)\n", ind,
			st->hdr.seq1, st->hdr.seq2);
	else if (st->recovered)
		fprintf(f, "%sstate: dirty (sequence %u/%u); %zu log %s "
			"replayed in memory, values below include them\n", ind,
			st->hdr.seq1, st->hdr.seq2, st->logs.applied,
			st->logs.format == 6 ? "entries" : "pages");
	else
		fprintf(f, "%sstate: dirty (sequence %u/%u%s); logs not usable: "
			"%s; values below are the primary file's\n", ind,
			st->hdr.seq1, st->hdr.seq2,
			st->hdr.checksum_ok ? "" : ", bad checksum",
			kp_escape_str(&e[0], st->logs.why));
	for (l = 0; l < 2; l++) {
		const struct logrec_log *L = &st->logs.log[l];

		if (!L->present)
			continue;
		fprintf(f, "%slog%d: %s%s%s", ind, l + 1,
			L->valid ? format_name(L->format) : "invalid",
			L->valid ? " format" : "", L->why[0] ? ": " : "");
		if (L->why[0])
			fputs(kp_escape_str(&e[0], L->why), f);
		if (L->valid)
			fprintf(f, " (sequence %u)", L->seq);
		if (L->applied)
			fprintf(f, ", %zu applied", L->applied);
		fputc('\n', f);
	}
	if (st->recovered && st->logs.damage[0])
		fprintf(f, "%slog damage: %s; the changes after it cannot be "
			"replayed\n", ind, kp_escape_str(&e[0], st->logs.damage));
	if (st->stats.dup_keys)
		fprintf(f, "%snote: key '%s' has two subkeys named '%s' (%zu "
			"key%s with such twins): the registry format forbids "
			"them and stricter readers reject the hive; nothing is "
			"written under such a key\n", ind,
			st->dup_key[0] ? kp_escape_str(&e[0], st->dup_key) : "\\",
			kp_escape_str(&e[1], st->dup_name),
			st->stats.dup_keys, st->stats.dup_keys == 1 ? "" : "s");
	if (v && v->present)
		fprintf(f, "%swindows: %s; build %s; edition %s; type %s; "
			"version %u.%u\n", ind,
			v->product ? kp_escape_str(&e[0], v->product) :
				     "(no ProductName)",
			kp_escape_str(&e[1], v->build ? v->build : "?"),
			kp_escape_str(&e[2], v->edition ? v->edition : "?"),
			kp_escape_str(&e[3], v->install_type ?
						     v->install_type : "?"),
			v->major, v->minor);
	if (r->office)
		report_office_text(f, r->office, ind);
	if (r->spp == NULL)
		goto out;
	if (!r->spp->root_present) {
		fprintf(f, "%ssettings: %s not present (Windows defaults "
			"apply)\n", ind, r->spp->root);
		goto out;
	}
	fprintf(f, "%ssettings: %s\n", ind, r->spp->root);
	if (r->spp->n == 0)
		fprintf(f, "%s  (no KMS settings set)\n", ind);
	items_text(f, r->spp->items, r->spp->n, ind);
	for (i = 0; i < r->spp->nproducts; i++) {
		const struct spp_product *p = &r->spp->products[i];

		fprintf(f, "%sproduct %s%s%s:\n", ind,
			kp_escape_str(&e[0], p->app), p->act[0] ? "\\" : "",
			kp_escape_str(&e[1], p->act));
		items_text(f, p->items, p->n, ind);
	}
out:
	for (l = 0; l < 4; l++)
		buf_release(&e[l]);
}

void
report_changes_text(FILE *f, const struct hive_changes *c, const char *ind)
{
	struct buf s = BUF_INIT, e = BUF_INIT;
	size_t i;

	for (i = 0; i < c->n; i++) {
		buf_reset(&s);
		hive_change_describe(&c->v[i], &s);
		fprintf(f, "%s%s\n", ind, kp_escape_str(&e, buf_str(&s)));
	}
	buf_release(&s);
	buf_release(&e);
}

static json_t *
side_json(bool present, bool secret, uint32_t type, const unsigned char *d,
	  size_t len)
{
	char tn[32];

	if (!present)
		return json_null();
	if (secret)
		return json_pack("{s:s, s:b}", "type",
				 regval_type_name(type, tn, sizeof(tn)),
				 "secret", 1);
	return json_pack("{s:s, s:o}", "type",
			 regval_type_name(type, tn, sizeof(tn)), "value",
			 report_value_json(type, d, len));
}

json_t *
report_changes_json(const struct hive_changes *c)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < c->n; i++) {
		const struct hive_change *ch = &c->v[i];
		json_t *o = json_object();

		if (ch->hive)
			json_object_set_new(o, "hive", json_string(ch->hive));
		json_object_set_new(o, "key", json_string(ch->key));
		if (ch->op == HC_VALUE) {
			json_object_set_new(o, "op", json_string(
				ch->will ? "set" : "delete"));
			json_object_set_new(o, "name", json_string(ch->name));
			json_object_set_new(o, "before", side_json(ch->had,
				ch->secret, ch->old_type, ch->old, ch->old_len));
			json_object_set_new(o, "after", side_json(ch->will,
				ch->secret, ch->new_type, ch->new, ch->new_len));
		} else {
			json_object_set_new(o, "op", json_string(
				ch->op == HC_KEY_CREATE ? "create-key" :
							  "delete-key"));
		}
		json_array_append_new(a, o);
	}
	return a;
}

void
report_hive_notes(const struct cli *c, const char *label,
		  const struct hive_state *st, bool writing)
{
	if (c->quiet)
		return;
	if (st->recovered)
		cli_note(c, "%s was dirty: replayed %zu transaction log %s "
			 "in memory first", label, st->logs.applied,
			 st->logs.format == 6 ? "entries" : "pages");
	if (st->recovered && st->logs.damage[0])
		cli_note(c, "%s: damaged log (%s): the changes after it "
			 "cannot be replayed", label, st->logs.damage);
	else if (!st->recovered && st->dirty && writing)
		cli_note(c, "%s is dirty and its logs cannot be replayed "
			 "(%s); writing anyway (--force-dirty)", label,
			 st->logs.why);
}

void
report_times(const struct cli *c, const char *what, const struct img_times *t,
	     unsigned mask)
{
	const char *v = getenv("KMSPREP_TIMING");
	char line[256];
	size_t len = 0;
	unsigned k;

	if (v == NULL || *v == '\0' || strcmp(v, "0") == 0)
		return;
	for (k = 0; k < IMG_NSTEPS && len < sizeof(line); k++)
		if (mask & (1u << k))
			len += (size_t)snprintf(line + len, sizeof(line) - len,
						" %s=%.3f", img_step_names[k],
						(double)t->ns[k] / 1e9);
	cli_note(c, "timing: %s:%s", what, line);
}
