/** @type {import('next').NextConfig} */
const nextConfig = {
  // Never advertise the framework (no "X-Powered-By: Next.js").
  poweredByHeader: false,
  reactStrictMode: true,
  // Security headers are NOT configured here: next.config `headers()` is frozen
  // at build time. They are set per request in proxy.js so that the
  // `no-security-headers` fault mode can switch them off without a rebuild.
};

export default nextConfig;
