# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion for kmsprep(1)
#
# Commands, options and option values are read at completion time from the
# --help output of the kmsprep being completed, so that they cannot drift
# from the binary: "kmsprep --help" lists the commands, "kmsprep GROUP
# COMMAND --help" their options, and an option's value list ("on|off",
# "sysprep|clone") is the choice it offers.  Arguments that are files
# (hives, images, kits, keys) complete as file names.
#
# Needs nothing but bash; bash-completion's helpers are not used.

# _kmsprep_help BIN ARGS...: the --help text of BIN ARGS (empty on error).
_kmsprep_help()
{
	local bin=$1
	shift
	"$bin" "$@" --help 2>/dev/null
}

# _kmsprep_options BIN CMD...: one line per option of CMD's --help:
# "SHORT LONG METAVAR", "-" for a part it lacks ("-f --format
# zone|nsupdate|json", "- --json -").  The metavariable is what follows the
# option after one space; the description starts after two or more.
_kmsprep_options()
{
	_kmsprep_help "$@" | sed -nE \
		's/^  (-([a-zA-Z]), )?(--[a-z0-9-]+)( ([^ ]+))?( {2,}.*)?$/-\2 \3 \5/p' |
		sed -E 's/^-(-[a-zA-Z]) /\1 /; s/^- /- /; s/ $/ -/'
}

_kmsprep()
{
	local cur=${COMP_WORDS[COMP_CWORD]} bin=${COMP_WORDS[0]}
	local prev='' cmd='' i w words=() cmds opts line meta='' vals='' s l m

	COMPREPLY=()
	[ "$COMP_CWORD" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD - 1]}
	# The kmsprep typed (./build/kmsprep) if it runs, else the installed one.
	bin=${bin/#\~/$HOME}
	type -P "$bin" >/dev/null 2>&1 || bin=kmsprep

	# Every command, as "hive set", "kms kit build": two spaces, then the
	# name, then two or more spaces and the summary.  Kept for the session
	# (per binary); an option list is read afresh each time.
	if [ "${_kmsprep_cmds_bin-}" != "$bin" ] || [ -z "${_kmsprep_cmds-}" ]; then
		_kmsprep_cmds=$("$bin" --help 2>/dev/null |
			sed -n 's/^  \([a-z][a-z]*\( [a-z][a-z]*\)\{1,2\}\)  .*/\1/p')
		_kmsprep_cmds_bin=$bin
	fi
	cmds=$_kmsprep_cmds

	# The words before the cursor that are not options: the command so far.
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in -*) break ;; esac
		words+=("$w")
		if printf '%s\n' "$cmds" | grep -qxF -- "${words[*]}"; then
			cmd=${words[*]}
			break
		fi
	done

	if [ -z "$cmd" ]; then
		# Complete the next word of a command (or help COMMAND).
		local pre=${words[*]} next
		case $pre in help | help\ *) pre=${pre#help}; pre=${pre# } ;; esac
		if [ "${#words[@]}" -eq 0 ] && [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "--help --version" -- "$cur")
			return 0
		fi
		next=$(printf '%s\n' "$cmds" | while read -r line; do
			if [ -z "$pre" ]; then
				echo "${line%% *}"
			elif [[ $line == "$pre "* ]]; then
				line=${line#"$pre "}
				echo "${line%% *}"
			fi
		done | sort -u)
		[ "${#words[@]}" -eq 0 ] && next="$next help version"
		mapfile -t COMPREPLY < <(compgen -W "$next" -- "$cur")
		return 0
	fi

	# An option's value: its metavariable in the help ("--mode
	# sysprep|clone", "-f, --format zone|nsupdate|json").
	if [[ $prev == -* ]]; then
		# $cmd is lowercase words ("kms kit build"): split on purpose.
		# shellcheck disable=SC2086
		meta=$(_kmsprep_options "$bin" $cmd | while read -r s l m; do
			if [ "$s" = "$prev" ] || [ "$l" = "$prev" ]; then
				[ "$m" != - ] && echo "$m"
				break
			fi
		done)
		if [ -n "$meta" ]; then
			# Lowercase is a literal value ("jsonl", "on|off"),
			# uppercase a placeholder ("FILE", "N").
			case $meta in
			*'|'* | [a-z]*)
				for w in ${meta//|/ }; do
					[[ $w =~ ^[a-z0-9]+$ ]] && vals="$vals $w"
				done
				if [ -n "$vals" ]; then
					mapfile -t COMPREPLY < <(compgen -W "$vals" -- "$cur")
					return 0
				fi
				;;
			esac
			case $meta in
			FILE* | SOFTWARE | IMAGE | OUT* | KIT* | *.pem | *.qcow2)
				mapfile -t COMPREPLY < <(compgen -f -- "$cur")
				;;
			esac
			return 0
		fi
	fi

	if [[ $cur == -* ]]; then
		# shellcheck disable=SC2086
		opts=$(_kmsprep_options "$bin" $cmd | while read -r s l m; do
			echo "$l"
		done)
		mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
		return 0
	fi
	# Positional arguments: hives, images, .reg files and kits are files;
	# kms gvlk takes an edition, as its table names them.
	case $cmd in
	"kms gvlk")
		mapfile -t COMPREPLY < <(compgen -W "$("$bin" kms gvlk --list \
			2>/dev/null | awk -F '\t' '!/^#/ { print $2 }' |
			LC_ALL=C sort -u)" -- "$cur")
		;;
	"kms records" | "kms publish" | "kms discover" | "kms kit build") ;;
	*) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
	esac
	return 0
}

complete -o filenames -o bashdefault -F _kmsprep kmsprep
