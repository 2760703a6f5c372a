#!/bin/sh
# Builds an ffmpeg that can only do what the bot asks of it: read the audio of voice notes, audio
# files and videos, and write 16 kHz float PCM. From Debian's own source package (the version
# `apt-get install ffmpeg` would give, with Debian's patches), so `docker compose build --pull
# --no-cache` picks up Debian's security fixes. Statically linked against its own libraries: ~2 MB
# and libc, libm and zlib, instead of the ~800 MB Debian's ffmpeg pulls in (X11, Vulkan, codecs the
# bot never sees). Fewer decoders also means less of ffmpeg exposed to files strangers send.
#   usage: build-ffmpeg.sh <prefix>      → <prefix>/bin/ffmpeg
set -eu
prefix=$1

# deb-src next to deb, in the deb822 file the official image has (or a classic sources.list).
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  sed -i 's/^Types: deb$/Types: deb deb-src/' /etc/apt/sources.list.d/debian.sources
else
  sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >> /etc/apt/sources.list
fi
apt-get update
apt-get install -y --no-install-recommends build-essential dpkg-dev zlib1g-dev
mkdir -p /tmp/ffmpeg && cd /tmp/ffmpeg
apt-get source ffmpeg
cd ffmpeg-*/

./configure --prefix="$prefix" \
  --disable-everything --disable-autodetect --disable-network --disable-doc --disable-debug \
  --disable-ffplay --disable-ffprobe --disable-avdevice --disable-swscale --disable-postproc \
  --disable-x86asm --enable-zlib \
  --enable-protocol=file,pipe \
  --enable-demuxer=ogg,matroska,mov,mp3,wav,w64,flac,aac,asf,amr,aiff,caf,avi,mpegts \
  --enable-parser=opus,vorbis,aac,aac_latm,ac3,mpegaudio,flac \
  --enable-decoder=opus,vorbis,aac,aac_latm,ac3,eac3,mp3,mp3float,mp2,flac,alac,amrnb,amrwb,wmav1,wmav2 \
  --enable-decoder=pcm_s16le,pcm_s16be,pcm_s24le,pcm_s32le,pcm_f32le,pcm_f64le,pcm_u8,pcm_alaw,pcm_mulaw,adpcm_ima_wav,adpcm_ms \
  --enable-filter=aresample,aformat,anull,atrim \
  --enable-encoder=pcm_f32le --enable-muxer=pcm_f32le
make -j"$(nproc)"
install -D -m 755 ffmpeg "$prefix/bin/ffmpeg"
install -D -m 644 COPYING.LGPLv2.1 "$prefix/share/doc/ffmpeg/COPYING.LGPLv2.1"
"$prefix/bin/ffmpeg" -hide_banner -version | head -1
