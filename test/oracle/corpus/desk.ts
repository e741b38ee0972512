/**
 * Requests for the desk fixture (test/fixtures/desk): a ticket desk in two schemas (desk, kb), with
 * per-user rows ("access": "owner": tickets, articles), "write" and "read" tables, a uuid key, an
 * identity ALWAYS, a generated column, pgvector, a keyless table whose name needs quoting, a
 * self-reference, many-to-many, a key into the other schema, and a table name both schemas use.
 * Three callers: anonymous, alice and bob.
 */
import type { OracleRequest } from '../compare.ts';

const kb = { 'Accept-Profile': 'kb' };
const kbWrite = { 'Content-Profile': 'kb' };
const rep = { Prefer: 'return=representation' };

/**
 * `desk`: the schema holding desk's tables (the fixture's own, or `public` where a test loads them
 * there); every request names its profile, so the corpus holds whichever schema is the default.
 */
export function deskCorpus(desk = 'desk'): OracleRequest[] {
  return requests.map((r) => {
    const header =
      r.method && r.method !== 'GET' && r.method !== 'HEAD' ? 'Content-Profile' : 'Accept-Profile';
    if (r.headers?.['Accept-Profile'] || r.headers?.['Content-Profile'] || r.name === 'the default profile')
      return r;
    return { ...r, headers: { ...r.headers, [header]: desk } };
  });
}

const requests: OracleRequest[] = [
  { name: 'the default profile', path: '/Audit%20Log?select=action&order=at&limit=1' },
  // Embeds by PostgREST's spellings: a self-reference both ways, many-to-many, the key's column.
  { path: '/agents?select=name,lead_id(name),agents(name)&order=name&agents.order=name' },
  { path: '/agents?select=name,skills&skills=cs.{billing}&order=name' },
  { path: '/tickets?select=id,priority,meta,assignee_id(name),labels(name)&id=eq.2&labels.order=name' },
  { path: '/tickets?select=id,agents(name)&id=in.(1,2,3)&order=id' },
  { path: '/labels?select=name,tickets(id)&name=eq.bug&tickets.order=id&tickets.limit=2' },
  {
    path: '/tickets?select=id,priority&priority=eq.high&order=id&limit=5',
    headers: { Prefer: 'count=exact' },
  },
  { path: '/tickets?select=id,meta->>channel&meta->>channel=eq.phone&order=id.desc&limit=3' },
  { path: '/Audit%20Log?ticket_id=eq.3' },
  { path: '/Audit%20Log?select=action&order=at.desc&limit=2' },
  // pgapp's own extra spelling (the key's column without _id) is not PostgREST's.
  {
    path: '/agents?select=name,lead(name)&order=name&limit=3',
    documented:
      "pgapp's extra embed name (the foreign key's column without _id); PostgREST has no such name (README: answers that differ)",
  },
  // The kb profile: its own labels, a generated column, a vector, a key into desk (PostgREST finds
  // no relationship across schemas).
  { path: '/articles?select=id,words,embedding,ticket_id&id=eq.2', headers: kb },
  { path: '/articles?select=id,labels(tag)&id=lt.4&order=id', headers: kb },
  { path: '/labels?order=article_id,tag&limit=4', headers: kb },
  { path: '/articles?select=id,tickets(id)&id=eq.2', headers: kb },
  { path: '/labels?order=id&limit=1' },
  // Per-user rows: alice's own, and shared ones; bob and anonymous see only the shared.
  {
    method: 'POST',
    path: '/tickets',
    as: 'alice',
    headers: rep,
    body: { subject: 'alice private', priority: 'high' },
    volatile: ['*.opened_at'],
    capture: { aliceTicket: '0.id' },
  },
  { path: '/tickets?select=id,subject,owner_id&subject=eq.alice%20private', as: 'alice' },
  { path: '/tickets?select=id,subject&subject=eq.alice%20private', as: 'bob' },
  { path: '/tickets?select=id,subject&subject=eq.alice%20private' },
  { path: '/tickets?select=id,owner_id&id=lt.3&order=id', as: 'bob' },
  // Through a view of rds's over the per-user table: the same rows for each caller.
  { path: '/ticket_board?select=id,subject,owner_id,assignee&subject=eq.alice%20private', as: 'alice' },
  { path: '/ticket_board?select=id,subject&subject=eq.alice%20private', as: 'bob' },
  { path: '/ticket_board?select=id,subject&subject=eq.alice%20private' },
  { path: '/ticket_board?select=id,assignee,agents(name)&id=lt.4&order=id', as: 'bob' },
  // An aggregate view over it: each caller counts what it sees.
  { path: '/priority_counts?order=priority', as: 'alice' },
  { path: '/priority_counts?order=priority' },
  // A function that writes (on rds): signed-in callers only ("write" in the fixture's config).
  { method: 'POST', path: '/rpc/recolor_label', as: 'bob', body: { label_id: 5, new_color: 'purple' } },
  { method: 'POST', path: '/rpc/recolor_label', body: { label_id: 5, new_color: 'black' } },
  { path: '/labels?id=eq.5' },
  // Through a function of rds's (made on custom): the same.
  { path: '/rpc/owned_tickets?select=id,subject,owner_id&subject=eq.alice%20private', as: 'alice' },
  { path: '/rpc/owned_tickets?select=id&subject=eq.alice%20private', as: 'bob' },
  { path: '/rpc/owned_tickets?select=id&subject=eq.alice%20private' },
  // A reference to someone else's private row is refused; to a shared one it is not.
  {
    method: 'POST',
    path: '/articles?select=title,ticket_id,owner_id',
    as: 'bob',
    headers: { ...kbWrite, ...rep },
    body: { title: 'bob on alice', ticket_id: '{{aliceTicket}}' },
  },
  {
    method: 'POST',
    path: '/articles?select=title,ticket_id,owner_id,words',
    as: 'bob',
    headers: { ...kbWrite, ...rep },
    body: { title: 'bob on shared', body: 'one two', ticket_id: 1 },
  },
  { method: 'POST', path: '/articles', as: 'bob', headers: kbWrite, body: { title: 'x', owner_id: 'alice' } },
  {
    method: 'POST',
    path: '/articles',
    as: 'bob',
    headers: kbWrite,
    body: { title: 'x', words: 3 },
    documented:
      "a generated column of a table read through postgres_fdw is a plain one on custom: a value for it is one the caller may not write (403), not rds's 400 (README: answers that differ)",
    documentedIn: ['fdw'],
  },
  // A PATCH of a table with a generated column: rds computes it again (not sent, not refused).
  {
    method: 'PATCH',
    path: '/articles?title=eq.bob%20on%20shared&select=title,words',
    as: 'bob',
    headers: { ...kbWrite, ...rep },
    body: { body: 'one two three four' },
  },
  // Only your own rows change: others' and shared ones are not found.
  {
    method: 'PATCH',
    path: '/tickets?subject=eq.alice%20private',
    as: 'bob',
    headers: rep,
    body: { priority: 'low' },
  },
  { method: 'PATCH', path: '/tickets?id=eq.1', as: 'alice', headers: rep, body: { priority: 'low' } },
  {
    method: 'PATCH',
    path: '/tickets?subject=eq.alice%20private&select=subject,priority',
    as: 'alice',
    headers: rep,
    body: { priority: 'low' },
  },
  { method: 'DELETE', path: '/tickets?subject=eq.alice%20private', as: 'bob', headers: rep },
  { method: 'DELETE', path: '/tickets?subject=eq.alice%20private&select=subject', as: 'alice', headers: rep },
  // "write" tables: web_user writes every row; an identity ALWAYS is rds's; a composite key.
  {
    method: 'POST',
    path: '/labels?select=name,color',
    as: 'alice',
    headers: rep,
    body: { name: 'new-label' },
  },
  { method: 'POST', path: '/labels', as: 'alice', body: { id: 99, name: 'x' } },
  { method: 'POST', path: '/ticket_labels', as: 'alice', headers: rep, body: { ticket_id: 4, label_id: 2 } },
  { method: 'POST', path: '/ticket_labels', as: 'alice', body: { ticket_id: 4, label_id: 2 } },
  { method: 'DELETE', path: '/ticket_labels?ticket_id=eq.4&label_id=eq.2', as: 'alice', headers: rep },
  {
    method: 'POST',
    path: '/agents?select=id,name,skills',
    as: 'alice',
    headers: rep,
    body: { email: 'new@desk.example', name: 'New' },
    volatile: ['*.id'],
  },
  { method: 'POST', path: '/agents', as: 'alice', body: { email: 'not an email', name: 'Bad' } },
  {
    method: 'POST',
    path: '/agents?on_conflict=email&select=email,name',
    as: 'alice',
    headers: { Prefer: 'return=representation,resolution=merge-duplicates' },
    body: { email: 'agent1@desk.example', name: 'Agent One' },
  },
  // And back (the stack's other tests read Agent 1), answering nothing.
  {
    method: 'POST',
    path: '/agents?on_conflict=email',
    as: 'alice',
    headers: { Prefer: 'resolution=merge-duplicates' },
    body: { email: 'agent1@desk.example', name: 'Agent 1' },
  },
  // "read" tables and anonymous callers: refused.
  { method: 'POST', path: '/labels', as: 'alice', headers: kbWrite, body: { article_id: 1, tag: 'x' } },
  { method: 'POST', path: '/labels', headers: kbWrite, body: { article_id: 1, tag: 'x' } },
  { method: 'POST', path: '/tickets', body: { subject: 'anonymous' } },
  { method: 'POST', path: '/Audit%20Log', as: 'alice', body: { action: 'x' } },
];
