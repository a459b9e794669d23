#!/usr/bin/env bash
# Install the berth release binary for this machine from the project's GitHub Releases,
# verified against the release's sha256sums.txt; without a release binary for this
# platform/version, build it from a source checkout (`--source`) with `cargo install --locked`.
# The GitHub action (action.yml) calls this script; it works the same on a laptop.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: install.sh [options]

  --version V     release tag (v0.1.0 or 0.1.0) or "latest" (default: the version in
                  --source's Cargo.toml, else latest; env BERTH_VERSION)
  --dir DIR       install DIR/berth (default: $HOME/.local/bin; env BERTH_INSTALL_DIR)
  --target T      release target, e.g. x86_64-unknown-linux-musl (default: from --os/--arch)
  --os OS         as `uname -s` prints it (default: this machine's)
  --arch ARCH     as `uname -m` prints it (default: this machine's)
  --releases URL  the releases page: URL/download/<tag>/<asset> and URL/latest
                  (default: https://github.com/berth-dev/berth/releases; env BERTH_RELEASES_URL)
  --source DIR    berth's source: built with `cargo install --locked --path DIR` when the
                  release has no binary for this platform (env BERTH_CARGO names cargo)
  --resolve       print version=, target= and asset= lines and install nothing

Release assets: berth-<tag>-<target>.tar.gz (the `berth` binary at its root) and
sha256sums.txt (`sha256sum` output). A checksum mismatch installs nothing and exits 1.
EOF
}

say() { printf 'berth install: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

version="${BERTH_VERSION:-}"
dir="${BERTH_INSTALL_DIR:-${HOME:-}/.local/bin}"
target=""
os="$(uname -s)"
arch="$(uname -m)"
releases="${BERTH_RELEASES_URL:-https://github.com/berth-dev/berth/releases}"
source_dir=""
resolve_only=false

while (($#)); do
	case "$1" in
	--version | --dir | --target | --os | --arch | --releases | --source)
		(($# >= 2)) || {
			usage >&2
			exit 2
		}
		case "$1" in
		--version) version="$2" ;;
		--dir) dir="$2" ;;
		--target) target="$2" ;;
		--os) os="$2" ;;
		--arch) arch="$2" ;;
		--releases) releases="${2%/}" ;;
		--source) source_dir="$2" ;;
		esac
		shift 2
		;;
	--resolve)
		resolve_only=true
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		say "unknown option $1"
		usage >&2
		exit 2
		;;
	esac
done

[[ -n "$dir" ]] || die "no install directory: pass --dir DIR (HOME is not set)"

# The platforms release.yml builds; any other has no release binary.
if [[ -z "$target" ]]; then
	case "$os/$arch" in
	Linux/x86_64 | Linux/amd64) target=x86_64-unknown-linux-musl ;;
	Linux/aarch64 | Linux/arm64) target=aarch64-unknown-linux-musl ;;
	Darwin/x86_64) target=x86_64-apple-darwin ;;
	Darwin/arm64 | Darwin/aarch64) target=aarch64-apple-darwin ;;
	esac
fi

# Redirects may not leave https for http (a plain-http releases URL is a local mirror or a test).
case "$releases" in
https://*) redirect_protocols="=https" ;;
*) redirect_protocols="=http,https" ;;
esac

# curl with retries; prints the HTTP status (000 when no answer came) and writes the body to $2.
fetch() {
	local code
	code="$(curl --silent --show-error --location --retry 3 --retry-delay 1 --connect-timeout 20 \
		--proto-redir "$redirect_protocols" --output "$2" --write-out '%{http_code}' "$1")" || true
	printf '%s' "${code:-000}"
}

source_version() {
	[[ -n "$source_dir" && -f "$source_dir/Cargo.toml" ]] || return 1
	sed -n 's/^version = "\(.*\)"$/\1/p' "$source_dir/Cargo.toml" | head -n 1
}

# `latest` is whatever tag GitHub's /releases/latest redirects to (no API call, no token).
resolve_latest() {
	local answer
	answer="$(curl --silent --show-error --location --retry 3 --retry-delay 1 --connect-timeout 20 \
		--proto-redir "$redirect_protocols" --output /dev/null \
		--write-out '%{http_code} %{url_effective}' "$releases/latest")" || answer="000 "
	case "$answer" in
	200\ */tag/*) printf '%s' "${answer##*/tag/}" ;;
	*) return 1 ;;
	esac
}

if [[ -z "$version" ]]; then
	if from_source="$(source_version)" && [[ -n "$from_source" ]]; then
		version="v$from_source"
	else
		version=latest
	fi
fi
if [[ "$version" == latest ]]; then
	if ! version="$(resolve_latest)"; then
		from_source="$(source_version)" ||
			die "could not find the latest release at $releases/latest; pass --version vX.Y.Z"
		say "no latest release at $releases/latest; using $source_dir's version $from_source"
		version="v$from_source"
	fi
fi
[[ "$version" == v* ]] || version="v$version"
[[ "$version" =~ ^v[0-9A-Za-z.+-]+$ ]] || die "not a release version: $version"
asset="berth-$version-${target:-none}.tar.gz"

if $resolve_only; then
	printf 'version=%s\ntarget=%s\nasset=%s\n' "$version" "${target:-none}" "$asset"
	exit 0
fi

# A cached or earlier install of this version is kept as it is.
if [[ -x "$dir/berth" ]] && [[ "$("$dir/berth" --version 2>/dev/null || true)" == "berth ${version#v}" ]]; then
	say "berth ${version#v} is already installed at $dir/berth"
	exit 0
fi

work="$(mktemp -d)"
staged=""
cleanup() {
	rm -rf "$work"
	if [[ -n "$staged" ]]; then rm -f "$staged"; fi
}
trap cleanup EXIT

# Copy $1 into $dir/berth atomically: a temporary file in $dir, then one rename.
install_binary() {
	mkdir -p "$dir"
	staged="$(mktemp "$dir/.berth.XXXXXX")"
	cp "$1" "$staged"
	chmod 755 "$staged"
	mv -f "$staged" "$dir/berth"
	staged=""
	say "installed $("$dir/berth" --version) ($2) at $dir/berth"
}

build_from_source() {
	[[ -n "$source_dir" ]] ||
		die "$1; pass --source DIR (a checkout of berth) to build it with cargo, or use a released platform and version"
	# The source must be the version asked for: a different one would be installed under its name.
	local built
	built="$(source_version)" || die "$1; $source_dir has no Cargo.toml to build berth from"
	[[ "v$built" == "$version" ]] ||
		die "$1; $source_dir is berth $built, not $version: pass --version v$built or a released version"
	say "$1; building berth $built from $source_dir with cargo install --locked"
	"${BERTH_CARGO:-cargo}" install --locked --path "$source_dir" --root "$work/cargo" --bin berth ||
		die "cargo install --locked --path $source_dir failed; nothing was installed"
	install_binary "$work/cargo/bin/berth" "built from $source_dir for $os $arch"
	exit 0
}

[[ -n "$target" ]] || build_from_source "no berth release binary is built for $os $arch"

url="$releases/download/$version/$asset"
status="$(fetch "$url" "$work/$asset")"
case "$status" in
200) ;;
404) build_from_source "release $version has no $asset ($url: HTTP 404)" ;;
*) die "could not download $url (HTTP $status); nothing was installed" ;;
esac
sums_url="$releases/download/$version/sha256sums.txt"
status="$(fetch "$sums_url" "$work/sha256sums.txt")"
[[ "$status" == 200 ]] || die "could not download $sums_url (HTTP $status); nothing was installed"

expected="$(awk -v name="$asset" '$2 == name || $2 == "*" name { print $1; exit }' "$work/sha256sums.txt")"
[[ -n "$expected" ]] || die "$sums_url lists no checksum for $asset; nothing was installed"
if command -v sha256sum >/dev/null; then
	actual="$(sha256sum "$work/$asset" | cut -d ' ' -f 1)"
elif command -v shasum >/dev/null; then
	actual="$(shasum -a 256 "$work/$asset" | cut -d ' ' -f 1)"
else
	die "neither sha256sum nor shasum is installed: cannot verify $asset; nothing was installed"
fi
[[ "$actual" == "$expected" ]] ||
	die "checksum mismatch for $asset: sha256sums.txt says $expected, the download is $actual; nothing was installed"

mkdir "$work/unpacked"
tar -xzf "$work/$asset" -C "$work/unpacked" ||
	die "$asset is not a gzipped tar archive; nothing was installed"
[[ -f "$work/unpacked/berth" ]] || die "$asset holds no berth binary at its root; nothing was installed"
install_binary "$work/unpacked/berth" "release $version, $target, sha256 $actual"
