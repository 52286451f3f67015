import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import Stripe from 'stripe';
import { localToken } from '../token';

/**
 * The demo shop `npm start` serves at /shop/ on its own port, so its page calls the API across
 * origins (CORS) as a deployed web app does: a page, its script (client/payments-client.ts
 * bundled for the browser by esbuild at start-up) and /shop/config.json (the API's URL, the
 * products as Stripe Prices created on first use, and a local token for the demo shopper).
 */
export interface ShopOptions {
  /** Where the shop creates its Prices: the emulator, or real Stripe test mode. */
  stripe: { secretKey: string; apiBase?: string };
  /** The API the page calls. */
  apiUrl: string;
}

const CATALOGUE = [
  { name: 'Organic T-shirt', amountMinor: 2500 },
  { name: 'Enamel mug', amountMinor: 1200 },
  { name: 'Sticker pack', amountMinor: 450 },
];
/** The shop's pages; answers false for a path it does not own. */
export type Mount = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> | boolean;

export const SHOP_TENANT = 'demo-shop';
export const SHOP_USER = 'shopper';

export async function createShop(options: ShopOptions): Promise<Mount> {
  const bundle = await build({
    entryPoints: [path.join(__dirname, 'app.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    minify: false,
    logLevel: 'silent',
  });
  const script = bundle.outputFiles[0].text;
  const page = readFileSync(path.join(__dirname, 'index.html'), 'utf8');
  const base = options.stripe.apiBase ? new URL(options.stripe.apiBase) : undefined;
  const stripe = new Stripe(options.stripe.secretKey, base ? { host: base.hostname, port: base.port, protocol: base.protocol.replace(':', '') as 'http' | 'https' } : {});
  let products: Promise<{ priceId: string; name: string; amountMinor: number; currency: string }[]> | undefined;
  // Created once per run, on first use (with --persist the emulator keeps the old ones, harmlessly).
  const catalogue = () =>
    (products ??= Promise.all(
      CATALOGUE.map(async (item) => {
        const price = await stripe.prices.create({ currency: 'eur', unit_amount: item.amountMinor, product_data: { name: item.name, metadata: { source: 'demo-shop' } } });
        return { priceId: price.id, name: item.name, amountMinor: item.amountMinor, currency: 'eur' };
      }),
    ).catch((error: unknown) => {
      products = undefined; // let the next page load try again
      throw error;
    }));

  const send = (res: ServerResponse, status: number, type: string, body: string) => {
    res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
    res.end(body);
  };
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (url.pathname === '/shop') {
      res.writeHead(301, { Location: '/shop/' });
      res.end();
      return true;
    }
    if (!url.pathname.startsWith('/shop/') || req.method !== 'GET') return false;
    const file = url.pathname.slice('/shop/'.length);
    if (file === '' || file === 'order') send(res, 200, 'text/html; charset=utf-8', page);
    else if (file === 'app.js') send(res, 200, 'text/javascript; charset=utf-8', script);
    else if (file === 'config.json') {
      try {
        send(res, 200, 'application/json', JSON.stringify({ apiUrl: options.apiUrl, token: localToken(SHOP_TENANT, SHOP_USER, 8 * 3600), products: await catalogue() }));
      } catch (error) {
        send(res, 503, 'application/json', JSON.stringify({ error: `Could not create the shop's Stripe prices: ${(error as Error).message}` }));
      }
    } else send(res, 404, 'text/plain; charset=utf-8', 'Not found');
    return true;
  };
}

export interface ShopServer {
  /** This server's origin (scheme, host, port), as its URL names it. */
  origin: string;
  /**
   * Every origin a browser may show this page under, all of which the API must allow: on
   * loopback both `http://127.0.0.1:<port>` and `http://localhost:<port>` reach it, and a
   * browser sends whichever the address bar holds as `Origin`.
   */
  origins: string[];
  /** The shop's page. */
  url: string;
  /** Serve the shop (until then every page answers 503: the API it calls is not up yet). */
  use(shop: Mount): void;
  close(): Promise<void>;
}

/** An HTTP server of its own for the shop: listens first, so the API can allow its origin. */
export async function startShopServer(port: number, host = '127.0.0.1'): Promise<ShopServer> {
  let shop: Mount | undefined;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/') {
      res.writeHead(302, { Location: '/shop/' });
      return res.end();
    }
    if (!shop) {
      res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '1' });
      return res.end('The shop is starting; retry shortly.');
    }
    Promise.resolve(shop(req, res, url))
      .then((served) => {
        if (served) return;
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('Not found');
      })
      .catch(() => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('The shop failed');
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const { port: boundPort } = server.address() as AddressInfo;
  const origin = `http://${host}:${boundPort}`;
  const loopback = host === '127.0.0.1' || host === 'localhost';
  return {
    origin,
    origins: loopback ? [`http://127.0.0.1:${boundPort}`, `http://localhost:${boundPort}`] : [origin],
    url: `${origin}/shop/`,
    use: (mount) => {
      shop = mount;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
