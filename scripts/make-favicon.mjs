#!/usr/bin/env node
// Draws Ferry's icon (a white ferry hull on blue water-coloured disc) and writes it as
// web/public/favicon.ico: an ICO whose one 32×32 image is a PNG (browsers since 2009 read
// PNG inside ICO). Vite copies web/public into web/dist, so the controller serves it at
// /favicon.ico, which browsers ask for on their own. Run it only to change the icon.
import { deflateSync } from "node:zlib";
import { writeFileSync } from "node:fs";

const SIZE = 32;
const BLUE = [0, 84, 166, 255];
const WHITE = [255, 255, 255, 255];
const CLEAR = [0, 0, 0, 0];

function pixel(x, y) {
  const cx = x + 0.5 - SIZE / 2;
  const cy = y + 0.5 - SIZE / 2;
  if (cx * cx + cy * cy > (SIZE / 2) ** 2) return CLEAR;
  // The hull: a trapezoid, wider on deck than at the waterline.
  const hull = y >= 17 && y <= 22 && x >= 6 + (y - 17) && x <= 25 - (y - 17);
  // The cabin and its funnel.
  const cabin = y >= 12 && y <= 16 && x >= 10 && x <= 20;
  const funnel = y >= 8 && y <= 11 && x >= 17 && x <= 19;
  // A wave under it.
  const wave = y === 25 + Math.round(Math.sin(x / 2) * 1) && x >= 5 && x <= 26;
  return hull || cabin || funnel || wave ? WHITE : BLUE;
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

const rows = [];
for (let y = 0; y < SIZE; y++) {
  rows.push(Buffer.from([0])); // filter: none
  for (let x = 0; x < SIZE; x++) rows.push(Buffer.from(pixel(x, y)));
}
const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(SIZE, 0);
ihdr.writeUInt32BE(SIZE, 4);
ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, no interlace
const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(Buffer.concat(rows), { level: 9 })), chunk("IEND", Buffer.alloc(0))]);

// ICONDIR (reserved, type 1 = icon, one image) and its one ICONDIRENTRY.
const header = Buffer.alloc(6 + 16);
header.writeUInt16LE(0, 0);
header.writeUInt16LE(1, 2);
header.writeUInt16LE(1, 4);
header.writeUInt8(SIZE, 6);
header.writeUInt8(SIZE, 7);
header.writeUInt8(0, 8); // no palette
header.writeUInt8(0, 9);
header.writeUInt16LE(1, 10); // colour planes
header.writeUInt16LE(32, 12); // bits per pixel
header.writeUInt32LE(png.length, 14);
header.writeUInt32LE(header.length, 18);
const out = new URL("../web/public/favicon.ico", import.meta.url).pathname;
writeFileSync(out, Buffer.concat([header, png]));
console.log(`wrote ${out} (${header.length + png.length} bytes)`);
