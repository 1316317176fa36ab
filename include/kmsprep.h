/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kmsprep's library: the one header the command line includes.  Below it
 * are the layers (docs/architecture.md): lib <- hive <- prep <- kms.  There
 * is no shared library and no ABI promise yet; this is the boundary the
 * CLI keeps to, so that everything the CLI needs is visible in one place.
 */
#ifndef KMSPREP_H
#define KMSPREP_H

#include "lib/buf.h"
#include "lib/error.h"
#include "lib/escape.h"
#include "lib/fileio.h"
#include "lib/valid.h"

#include "hive/change.h"
#include "hive/hive.h"
#include "hive/office.h"
#include "hive/regf.h"
#include "hive/regtext.h"
#include "hive/regval.h"
#include "hive/spp.h"
#include "hive/system.h"

#include "image/backend.h"
#include "prep/batch.h"
#include "prep/cloud.h"
#include "prep/generalize.h"
#include "prep/gvlk.h"
#include "image/session.h"
#include "prep/plan.h"
#include "prep/planfile.h"
#include "prep/run.h"
#include "image/winhive.h"

#include "kms/kit-apply.h"
#include "kms/kit.h"
#include "kms/publish.h"

#endif
