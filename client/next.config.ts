import type { NextConfig } from "next";

// Built as a static export (`out/`) that the hub serves at `/`: no Node.js server in production.
// `npm run dev` talks to a running hub: NEXT_PUBLIC_GAMIF_URL (default http://127.0.0.1:8000).
const config: NextConfig = {
  output: "export",
  trailingSlash: true, // `/login/` -> out/login/index.html, which the hub's static files serve as is
  images: { unoptimized: true },
  reactStrictMode: true,
  poweredByHeader: false,
  // `npm run dev` opened as http://127.0.0.1:3000 (not only localhost) may load its dev resources.
  allowedDevOrigins: ["127.0.0.1"],
};

export default config;
