// The API with @supabase/postgrest-js (PostgREST's JavaScript client), as a signed-in user:
//   npm run -s pgapp -- env > .env.local && node --env-file=.env.local examples/postgrest-js.mjs
import { PostgrestClient } from '@supabase/postgrest-js';

const { PGAPP_API_URL: url, PGAPP_USER_TOKEN: token } = process.env;
if (!url || !token)
  throw new Error('PGAPP_API_URL and PGAPP_USER_TOKEN are not set (see the first lines of this file)');
const api = new PostgrestClient(url, { headers: { Authorization: `Bearer ${token}` } });

const { data, error } = await api
  .from('contacts')
  .select('id, first_name, last_name, company(name)')
  .order('id')
  .limit(3);
if (error) throw new Error(`${error.code}: ${error.message}`);
for (const c of data)
  console.log(`#${c.id} ${c.first_name} ${c.last_name} (${c.company?.name ?? 'no company'})`);
