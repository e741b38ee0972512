/**
 * The project's certificate authority and the RDS stand-in's server certificate, as AWS gives every
 * RDS instance a certificate its clients verify (`sslmode=verify-full` with Amazon's CA bundle).
 *
 *   .pgapp/<project>/tls/            0700
 *     ca.key                         0600  the CA's private key: never mounted, never printed
 *     ca/root.crt                    the CA certificate: every client's `sslrootcert`; mounted
 *                                    read-only in rds and custom at /etc/pgapp/ca
 *     ca/remote.crt                  a copy of --rds-url's sslrootcert (a real RDS's bundle), if any
 *     rds/server.crt, server.key     rds's certificate (localhost, 127.0.0.1, rds); mounted read-only
 *                                    in rds at /etc/pgapp/tls, installed into its data directory at
 *                                    every start (an old certificate in a volume is replaced)
 *
 * Files are replaced in place (write, then rename within their directory), so a running container's
 * bind mount sees the new ones.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';
import { errorMessage, PgappError } from '../errors.ts';
import { writeInPlace } from '../files.ts';
import { stateDir } from '../paths.ts';
import type { RemoteRds } from './schema.ts';

/** The names rds's certificate is valid for: from the host, and inside the project network. */
export const RDS_CERT_NAMES = { dns: ['localhost', 'rds'], ip: ['127.0.0.1'] } as const;
/** Where the containers see the files. */
export const CONTAINER_CA_DIR = '/etc/pgapp/ca';
export const CONTAINER_TLS_DIR = '/etc/pgapp/tls';
export const CONTAINER_CA_FILE = `${CONTAINER_CA_DIR}/root.crt`;
export const CONTAINER_REMOTE_CA_FILE = `${CONTAINER_CA_DIR}/remote.crt`;

/**
 * The CA file custom's clients of rds (bridge, subscription) verify it with, as custom sees it;
 * undefined for a remote reached with sslmode=require and no sslrootcert.
 */
export function rdsRootCert(remote: RemoteRds | undefined): string | undefined {
  if (!remote) return CONTAINER_CA_FILE;
  return remote.sslrootcert ? CONTAINER_REMOTE_CA_FILE : undefined;
}

const CA_DAYS = 3650;
const SERVER_DAYS = 825;
/** A server certificate this close to its end is issued again by `dev`. */
const RENEW_DAYS = 30;
const DAY_MS = 86_400_000;

export interface TlsPaths {
  dir: string;
  caKey: string;
  caDir: string;
  caCert: string;
  remoteCa: string;
  rdsDir: string;
  serverCert: string;
  serverKey: string;
}

/** The directories containers mount, relative to the project's state directory. */
export const TLS_MOUNTS = { ca: 'tls/ca', rds: 'tls/rds' } as const;

export function tlsPaths(project: string): TlsPaths {
  const state = stateDir(project);
  const dir = join(state, 'tls');
  const caDir = join(state, TLS_MOUNTS.ca);
  const rdsDir = join(state, TLS_MOUNTS.rds);
  return {
    dir,
    caKey: join(dir, 'ca.key'),
    caDir,
    caCert: join(caDir, 'root.crt'),
    remoteCa: join(caDir, 'remote.crt'),
    rdsDir,
    serverCert: join(rdsDir, 'server.crt'),
    serverKey: join(rdsDir, 'server.key'),
  };
}

export interface TlsState {
  paths: TlsPaths;
  /** SHA-256 fingerprints (hex, no colons): a change restarts rds with the new certificate. */
  caFingerprint: string;
  serverFingerprint: string;
  /** What this call did. */
  issued: 'none' | 'server' | 'all';
}

const rotateHint = (project: string) =>
  `\`pgapp dev --rotate-ca --project ${project}\` issues a new CA and certificate (then point clients at the new root.crt; \`pgapp env\` prints it).`;

function rsaKey(): { pem: string; forgeKey: forge.pki.rsa.PrivateKey; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return {
    pem,
    forgeKey: forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function certificate(
  subject: forge.pki.CertificateField[],
  publicPem: string,
  days: number,
  extensions: object[],
  issuer: { cert?: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey },
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  // Positive, unique: a leading byte below 0x80.
  cert.serialNumber = `1${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 5 * 60_000);
  cert.validity.notAfter = new Date(Date.now() + days * DAY_MS);
  cert.setSubject(subject);
  cert.setIssuer(issuer.cert ? issuer.cert.subject.attributes : subject);
  cert.setExtensions(extensions);
  cert.sign(issuer.key, forge.md.sha256.create());
  return cert;
}

/** A new CA: certificate and key (PEM). */
export function makeCa(project: string): { cert: string; key: string } {
  const k = rsaKey();
  const cert = certificate(
    [
      { name: 'commonName', value: `pgapp ${project} local CA` },
      { name: 'organizationName', value: 'pgapp (local development only)' },
    ],
    k.publicPem,
    CA_DAYS,
    [
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ],
    { key: k.forgeKey },
  );
  return { cert: forge.pki.certificateToPem(cert), key: k.pem };
}

/** A server certificate signed by the CA: rds's names unless told others. */
export function issueServerCert(
  ca: { cert: string; key: string },
  names: { dns: readonly string[]; ip: readonly string[] } = RDS_CERT_NAMES,
): { cert: string; key: string } {
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const k = rsaKey();
  const cert = certificate(
    [{ name: 'commonName', value: 'rds' }],
    k.publicPem,
    SERVER_DAYS,
    [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...names.dns.map((value) => ({ type: 2, value })),
          ...names.ip.map((ip) => ({ type: 7, ip })),
        ],
      },
      { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
    ],
    { cert: caCert, key: forge.pki.privateKeyFromPem(ca.key) as forge.pki.rsa.PrivateKey },
  );
  return { cert: forge.pki.certificateToPem(cert), key: k.pem };
}

function readPem(file: string, what: string, project: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new PgappError(`Cannot read ${what} ${file}: ${errorMessage(err)}`, rotateHint(project));
  }
}

function parseCert(pem: string, file: string, project: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new PgappError(`${file} is not a PEM certificate: ${errorMessage(err)}`, rotateHint(project));
  }
}

/** Does this private key (PEM) belong to this certificate? */
function keyMatches(cert: X509Certificate, keyPem: string, file: string, project: string): boolean {
  try {
    return cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch (err) {
    throw new PgappError(`${file} is not a PEM private key: ${errorMessage(err)}`, rotateHint(project));
  }
}

const fingerprint = (c: X509Certificate) => c.fingerprint256.replace(/:/g, '').toLowerCase();

/** Why rds's certificate must be issued again (names, expiry), or undefined while it serves. */
function serverStale(server: X509Certificate): string | undefined {
  if (new Date(server.validTo).getTime() - Date.now() < RENEW_DAYS * DAY_MS) return 'it expires soon';
  const named =
    RDS_CERT_NAMES.dns.every((n) => server.checkHost(n, { wildcards: false }) === n) &&
    RDS_CERT_NAMES.ip.every((ip) => server.checkIP(ip) === ip);
  return named ? undefined : `it does not name ${[...RDS_CERT_NAMES.dns, ...RDS_CERT_NAMES.ip].join(', ')}`;
}

/**
 * Check the project's CA and rds's certificate, making what is missing: a new project gets a CA, a
 * missing, expiring or outdated server certificate is issued again from the CA. Files that are
 * unreadable or do not match each other stop here, with nothing changed. `rotate` replaces all.
 */
export function ensureTls(project: string, opts: { rotate?: boolean } = {}): TlsState {
  const p = tlsPaths(project);
  const haveCa = existsSync(p.caCert) || existsSync(p.caKey);
  let issued: TlsState['issued'] = 'none';
  let ca: { cert: string; key: string };
  if (!haveCa || opts.rotate) {
    ca = makeCa(project);
    issued = 'all';
  } else {
    ca = {
      cert: readPem(p.caCert, 'the CA certificate', project),
      key: readPem(p.caKey, 'the CA key', project),
    };
    const caCert = parseCert(ca.cert, p.caCert, project);
    if (!caCert.ca) throw new PgappError(`${p.caCert} is not a CA certificate`, rotateHint(project));
    if (!keyMatches(caCert, ca.key, p.caKey, project))
      throw new PgappError(`${p.caKey} is not the key of ${p.caCert}`, rotateHint(project));
    if (new Date(caCert.validTo).getTime() < Date.now())
      throw new PgappError(
        `The project's CA (${p.caCert}) expired on ${caCert.validTo}`,
        rotateHint(project),
      );
  }
  let server: { cert: string; key: string } | undefined;
  if (issued === 'none' && existsSync(p.serverCert) && existsSync(p.serverKey)) {
    server = {
      cert: readPem(p.serverCert, "rds's certificate", project),
      key: readPem(p.serverKey, "rds's key", project),
    };
    const cert = parseCert(server.cert, p.serverCert, project);
    const caCert = new X509Certificate(ca.cert);
    if (!cert.checkIssued(caCert) || !cert.verify(caCert.publicKey))
      throw new PgappError(
        `${p.serverCert} was not issued by the project's CA (${p.caCert})`,
        rotateHint(project),
      );
    if (!keyMatches(cert, server.key, p.serverKey, project))
      throw new PgappError(`${p.serverKey} is not the key of ${p.serverCert}`, rotateHint(project));
    if (serverStale(cert)) server = undefined;
  }
  if (!server) {
    server = issueServerCert(ca);
    if (issued === 'none') issued = 'server';
  }
  if (issued !== 'none') {
    mkdirSync(p.dir, { recursive: true, mode: 0o700 });
    chmodSync(p.dir, 0o700);
    // ca/ is read by the containers' postgres user: the certificate is public.
    mkdirSync(p.caDir, { recursive: true, mode: 0o755 });
    mkdirSync(p.rdsDir, { recursive: true, mode: 0o700 });
    if (issued === 'all') {
      writeInPlace(p.caKey, ca.key, 0o600);
      writeInPlace(p.caCert, ca.cert, 0o644);
    }
    writeInPlace(p.serverKey, server.key, 0o600);
    writeInPlace(p.serverCert, server.cert, 0o644);
  }
  return {
    paths: p,
    caFingerprint: fingerprint(new X509Certificate(ca.cert)),
    serverFingerprint: fingerprint(new X509Certificate(server.cert)),
    issued,
  };
}

/**
 * A real RDS's CA bundle (--rds-url's sslrootcert): checked (readable, PEM certificates) and copied
 * where custom's bridge and subscription read it. Returns the number of certificates.
 */
export function installRemoteCa(project: string, file: string): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PgappError(
      `Cannot read --rds-url's sslrootcert ${file}: ${errorMessage(err)}`,
      "Point sslrootcert at a readable PEM bundle, e.g. AWS RDS's global-bundle.pem (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem).",
    );
  }
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  try {
    if (pems.length === 0) throw new Error('no certificate in it');
    for (const pem of pems) new X509Certificate(pem);
  } catch (err) {
    throw new PgappError(
      `--rds-url's sslrootcert ${file} is not a PEM certificate bundle: ${errorMessage(err)}`,
      "Use the PEM bundle of the server's CA (for AWS RDS: global-bundle.pem from https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem).",
    );
  }
  const p = tlsPaths(project);
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  mkdirSync(p.caDir, { recursive: true, mode: 0o755 });
  writeInPlace(p.remoteCa, `${pems.join('\n')}\n`, 0o644);
  return pems.length;
}

/** The CA that verifies rds from the host, for the project's own clients. */
export function caPem(file: string, project: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new PgappError(
      `Cannot read the CA that verifies rds (${file}): ${errorMessage(err)}`,
      (err as NodeJS.ErrnoException).code === 'ENOENT'
        ? `Run \`pgapp dev --project ${project}\`: it issues the project's CA and rds's certificate.`
        : 'Check its permissions.',
    );
  }
}

/** Remove the project's TLS files (reset): the next `dev` issues a new CA. */
export function removeTls(project: string): void {
  rmSync(tlsPaths(project).dir, { recursive: true, force: true });
}
