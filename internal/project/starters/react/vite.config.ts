import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The preview reaches the dev server through QuickVibe's proxy on its own
// host name, so Vite listens on every interface and accepts any host.
export default defineConfig({
  plugins: [react()],
  server: { host: "0.0.0.0", port: 5173, strictPort: true, allowedHosts: true },
});
