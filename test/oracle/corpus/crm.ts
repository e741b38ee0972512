/**
 * Requests for the example a newcomer sees (examples/crm): per-user tables (owner_id), read as
 * nobody and as two users, every embed spelling of its foreign keys, and the writes a CRM client
 * makes — each user's own rows, someone else's refused — sent to the oracle and to pgapp.
 */
import type { OracleRequest } from '../compare.ts';

const rep = { Prefer: 'return=representation' };
const alice = 'oracle-alice';
const bob = 'oracle-bob';
/** What rds stamps with its clock: equal only by chance on two servers. */
const clock = ['*.created_at'];

const reads: OracleRequest[] = [
  { path: '/companies?order=id&limit=5' },
  { path: '/companies?order=id&limit=5', as: null },
  { path: '/deals?select=id,amount,companies(name)&order=id&limit=3', as: null },
  { path: '/companies?select=id,name&industry=eq.software&order=id&limit=5' },
  { path: '/contacts?select=id,email&order=id&limit=3', headers: { Prefer: 'count=exact' } },
  { path: '/deals?select=stage,amount&stage=in.(won,lost)&order=amount.desc,id&limit=5' },
  // Every spelling of contacts → companies, and the ways back.
  { path: '/contacts?select=id,companies(name)&order=id&limit=5' },
  { path: '/contacts?select=id,company_id(name)&order=id&limit=5' },
  { path: '/contacts?select=id,companies!contacts_company_id_fkey(name)&order=id&limit=5' },
  { path: '/contacts?select=id,firm:companies!company_id(domain)&order=id&limit=5' },
  { path: '/companies?select=id,contacts(id,email)&order=id&limit=3&contacts.order=id&contacts.limit=2' },
  { path: '/companies?select=id,deals(count)&order=id&limit=5' },
  // deals reach companies and contacts; activities reach deals and contacts.
  { path: '/deals?select=id,companies(name),contacts(email)&order=id&limit=5' },
  {
    path: '/activities?select=id,kind,contacts(first_name),deals(title)&order=occurred_at.desc,id.desc&limit=5',
  },
  { path: '/companies?select=id,deals!inner(stage)&deals.stage=eq.won&order=id&limit=3' },
  { path: '/contacts?select=id,...companies(company:name)&order=id&limit=3' },
  // pgapp's own to-one name: PostgREST knows none such.
  {
    path: '/contacts?select=id,company(name)&order=id&limit=3',
    documented:
      "pgapp's extra embed name (the foreign key's column without _id); PostgREST has no such name (README: answers that differ)",
  },
  // Errors, in PostgREST's shape.
  { path: '/companies?select=nope' },
  { path: '/companies?id=eq.abc' },
  { path: '/nowhere' },
];

const writes: OracleRequest[] = [
  // Alice's own company: the owner from her token, id and time from rds.
  {
    method: 'POST',
    path: '/companies',
    headers: rep,
    body: { name: 'Oracle Co', domain: 'oracle.example', industry: 'software', employees: 3 },
    volatile: clock,
    capture: { company: '0.id' },
  },
  { path: '/companies?select=id,name,owner_id&domain=eq.oracle.example' },
  { path: '/companies?select=id,name,owner_id&domain=eq.oracle.example', as: bob },
  { path: '/companies?select=id&domain=eq.oracle.example', as: null },
  // Hers again is a duplicate (owner, domain); the same domain is bob's to use.
  {
    method: 'POST',
    path: '/companies',
    body: { name: 'Again', domain: 'oracle.example', industry: 'x', employees: 1 },
  },
  {
    method: 'POST',
    path: '/companies',
    headers: rep,
    body: { name: 'Bob Co', domain: 'oracle.example', industry: 'x', employees: 1 },
    as: bob,
    volatile: clock,
  },
  // What rds fills, and the owner, are not the client's to give.
  {
    method: 'POST',
    path: '/companies',
    body: { id: 1, name: 'x', domain: 'x.example', industry: 'x', employees: 1 },
  },
  {
    method: 'POST',
    path: '/companies',
    body: { name: 'x', domain: 'y.example', industry: 'x', employees: 1, owner_id: bob },
  },
  {
    method: 'POST',
    path: '/companies',
    body: { name: '', domain: 'z.example', industry: 'x', employees: 1 },
  },
  // A contact at her company; one at it by bob is refused (not a company he can see).
  {
    method: 'POST',
    path: '/contacts?select=id,email,companies(name)',
    headers: rep,
    body: { company_id: '{{company}}', first_name: 'Ora', last_name: 'Cle', email: 'ora@oracle.example' },
  },
  {
    method: 'POST',
    path: '/contacts',
    body: { company_id: '{{company}}', first_name: 'B', last_name: 'B', email: 'b@oracle.example' },
    as: bob,
  },
  // Updates and deletes: her rows only; a shared row is read-only to everyone.
  {
    method: 'PATCH',
    path: '/companies?domain=eq.oracle.example&select=name,employees',
    headers: rep,
    body: { employees: 4 },
  },
  { method: 'PATCH', path: '/companies?id=eq.1', headers: rep, body: { employees: 4 } },
  {
    method: 'PATCH',
    path: '/companies?domain=eq.oracle.example',
    headers: rep,
    body: { employees: 9 },
    as: bob,
    volatile: clock,
  },
  { method: 'DELETE', path: '/contacts?email=eq.ora@oracle.example', headers: rep, volatile: clock },
  { path: '/companies?select=name,employees,contacts(email)&domain=eq.oracle.example&order=name' },
  {
    method: 'POST',
    path: '/companies',
    body: { name: 'Anon', domain: 'anon.example', industry: 'x', employees: 1 },
    as: null,
  },
];

/** As alice unless a request says otherwise: the example's tables are per-user ("owner"). */
export const crmCorpus: OracleRequest[] = [...reads, ...writes].map((r) => ({ as: alice, ...r }));
