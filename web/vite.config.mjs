// Vite's configuration for the web UI: `npm run build:web` builds into web/dist, which the
// controller serves at /. `npx vite web` serves the sources with the API proxied to a
// running controller (FERRY_URL, default https://127.0.0.1:8080; NODE_EXTRA_CA_CERTS=~/.ferry/ca.crt trusts its CA).
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  root: new URL(".", import.meta.url).pathname,
  base: "/",
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 4096 },
  server: { proxy: { "/api": { target: process.env.FERRY_URL ?? "https://127.0.0.1:8080", changeOrigin: false } } },
});
