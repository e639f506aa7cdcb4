#!/usr/bin/env bash
# Builds the Debian package: dalaba_<version>_<arch>.deb with dalabad and dalaba linked against a static Swift runtime,
# so the package depends only on Debian libraries (computed with dpkg-shlibdeps from what the binaries really need).
#
#   deploy/package.sh [--version VERSION] [--output DIR]
#
# The version comes from deploy/debian/changelog unless --version overrides it (the package test builds a second,
# higher one to test upgrades). The release build goes to ${DALABA_PACKAGE_BUILD:-.build/package}, never .build, so it
# does not hold the lock a debug build waits on. Prints the path of the .deb on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

version=""
output=""
while [ $# -gt 0 ]; do
    case "$1" in
        --version) version="$2"; shift 2 ;;
        --output) output="$2"; shift 2 ;;
        *) echo "package.sh: unknown argument $1 (use --version VERSION, --output DIR)" >&2; exit 2 ;;
    esac
done

scratch="${DALABA_PACKAGE_BUILD:-.build/package}"
mkdir -p "$scratch"
scratch=$(cd "$scratch" && pwd)
output="${output:-$scratch/deb}"
mkdir -p "$output"
output=$(cd "$output" && pwd)

changelog_version=$(dpkg-parsechangelog -l deploy/debian/changelog -S Version)
version="${version:-$changelog_version}"
arch=$(dpkg --print-architecture)
maintainer=$(dpkg-parsechangelog -l deploy/debian/changelog -S Maintainer)

echo "== building dalabad and dalaba $version for $arch (release, static Swift runtime) in $scratch"
# Bound at load time and read-only after relocation (relro, now), like the hardening Debian's own packages get.
build=(swift build -c release --static-swift-stdlib --scratch-path "$scratch" -Xlinker -z -Xlinker relro -Xlinker -z -Xlinker now)
"${build[@]}" --product dalabad
"${build[@]}" --product dalaba
bin=$("${build[@]}" --show-bin-path)

for program in dalabad dalaba; do
    # The whole point of the static runtime: no libswift*.so or Foundation .so may be needed at run time.
    if readelf -d "$bin/$program" | grep NEEDED | grep -Ei 'libswift|libFoundation|lib_Foundation|libdispatch|libBlocksRuntime|libicu'; then
        echo "package.sh: $program still needs the Swift runtime's shared libraries (above)" >&2
        exit 1
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/dalaba-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage="$work/root"

echo "== staging in $stage"
install -d -m 0755 "$stage/usr/bin" "$stage/usr/share/dalaba/audio" "$stage/usr/share/dalaba/schedules" "$stage/usr/share/dalaba/console" \
    "$stage/usr/share/doc/dalaba/examples" "$stage/usr/share/man/man1" "$stage/lib/systemd/system" "$stage/etc/dalaba/schedules"
for program in dalabad dalaba; do
    install -m 0755 "$bin/$program" "$stage/usr/bin/$program"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/$program"
done
install -m 0644 Audio/*.wav "$stage/usr/share/dalaba/audio/"
install -m 0644 Schedules/*.yaml "$stage/usr/share/dalaba/schedules/"
# The console's templates, stylesheet and script: dalabad finds them in <prefix>/share/dalaba/console beside /usr/bin.
install -m 0644 Sources/DalabaServer/Templates/* "$stage/usr/share/dalaba/console/"
install -m 0644 deploy/debian/dalaba.toml "$stage/etc/dalaba/dalaba.toml"
install -m 0644 deploy/dalabad.service "$stage/lib/systemd/system/dalabad.service"
install -m 0644 deploy/dalaba.toml "$stage/usr/share/doc/dalaba/examples/dalaba.toml"
install -m 0644 deploy/asound.conf "$stage/usr/share/doc/dalaba/examples/asound.conf"
install -m 0644 deploy/debian/copyright "$stage/usr/share/doc/dalaba/copyright"
install -m 0644 README.md "$stage/usr/share/doc/dalaba/README.md"
install -D -m 0644 deploy/debian/lintian-overrides "$stage/usr/share/lintian/overrides/dalaba"

# The changelog, with an entry for an overridden version on top, so the package's history names what it is.
{
    if [ "$version" != "$changelog_version" ]; then
        printf 'dalaba (%s) bookworm; urgency=medium\n\n  * Built as %s from %s.\n\n -- %s  %s\n\n' \
            "$version" "$version" "$(git describe --always --dirty 2>/dev/null || echo "the source tree")" "$maintainer" "$(date -R)"
    fi
    cat deploy/debian/changelog
} | gzip -9n >"$stage/usr/share/doc/dalaba/changelog.gz"

echo "== man pages from the argument parser's help (swift-argument-parser's generate-manual)"
# The tool behind `swift package generate-manual`, built on its own: the plugin would build every product of the
# package (the county head-end and the fuzzers too) in release mode first.
parser="$scratch/checkouts/swift-argument-parser"
swift build --package-path "$parser" --scratch-path "$scratch/generate-manual" --product generate-manual >/dev/null
manual_tool="$(swift build --package-path "$parser" --scratch-path "$scratch/generate-manual" --show-bin-path)/generate-manual"
mkdir -p "$work/man"
manual_date=$(date -u -d "@$(dpkg-parsechangelog -l deploy/debian/changelog -S Timestamp)" +%Y-%m-%d)
for program in dalabad dalaba; do
    "$manual_tool" "$stage/usr/bin/$program" --section 1 --date "$manual_date" --authors "$maintainer" --output-directory "$work/man"
    gzip -9n <"$work/man/$program.1" >"$stage/usr/share/man/man1/$program.1.gz"
    chmod 0644 "$stage/usr/share/man/man1/$program.1.gz"
done

echo "== control"
# dpkg-shlibdeps reads the libraries the binaries need (NEEDED) and the shlibs/symbols files of the packages that hold
# them: the Depends line is what the binaries really use, at the lowest versions their symbols allow.
mkdir -p "$work/debian"
printf 'Source: dalaba\n\nPackage: dalaba\nArchitecture: any\n' >"$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O -e root/usr/bin/dalabad -e root/usr/bin/dalaba 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "package.sh: dpkg-shlibdeps found no libraries" >&2; exit 1; }
# Programs the daemon and the scripts run: espeak-ng speaks text announcements; adduser makes the dalaba user.
depends="$shlibs, espeak-ng, adduser"
rm -rf "$work/debian"

install -d -m 0755 "$stage/DEBIAN"
installed_size=$(du -sk --apparent-size "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@MAINTAINER@/$maintainer/" -e "s/@INSTALLED_SIZE@/$installed_size/" -e "s/@DEPENDS@/$depends/" \
    deploy/debian/control.in >"$stage/DEBIAN/control"
install -m 0644 deploy/debian/conffiles "$stage/DEBIAN/conffiles"
for script in postinst prerm postrm; do install -m 0755 "deploy/debian/$script" "$stage/DEBIAN/$script"; done
(cd "$stage" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
    >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"

deb="$output/dalaba_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "== $(du -h "$deb" | cut -f1) Depends: $depends"
echo "$deb"
