// The broker as seen by openid-client, a widely used OAuth client, over HTTPS with a test CA:
// discovery, the code flow with PKCE and RAR, refresh with rotation, the device flow,
// introspection and revocation. It needs no special code for the broker.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { nodeCall } from './harness.mjs';
import { caFetchFor, oauthBroker, person, PASSWORD } from './oauth_person.mjs';

const REDIRECT = 'http://127.0.0.1:53682/callback';
const DETAILS = JSON.stringify([{ type: 'ai_access', provider: 'openai', models: ['gpt-4o-mini', 'gpt-4o'], capabilities: ['chat'], reason: 'notes' }]);
let ca, broker, you, session, publicApp, confidentialApp;

async function discover(issuer, clientId, auth) {
  const config = await client.discovery(issuer, clientId, undefined, auth,
    { algorithm: 'oauth2', [client.customFetch]: caFetchFor(ca.ca) });
  config[client.customFetch] = caFetchFor(ca.ca);
  return config;
}

before(async () => {
  let apps;
  ({ ca, broker, apps } = await oauthBroker({ public: ['--device-grant'], confidential: ['--confidential', '--device-grant'] }));
  const issuer = new URL(broker.url);
  publicApp = await discover(issuer, apps.public.client_id, client.None());
  confidentialApp = await discover(issuer, apps.confidential.client_id, client.ClientSecretBasic(apps.confidential.secret));
  you = person(broker.url, ca.ca);
  session = await you.signIn('erin', PASSWORD);
});

// The code flow as openid-client runs it, with the person narrowing the request to gpt-4o-mini.
async function codeFlow(config) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, state, authorization_details: DETAILS,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const back = await you.consent(session, url, { models: ['gpt-4o-mini'], lifetime: '3600' });
  assert.ok(back instanceof URL, back.text);
  return client.authorizationCodeGrant(config, back, { pkceCodeVerifier: verifier, expectedState: state });
}

const chatWith = (token) => nodeCall(broker.url, 'POST', '/openai/v1/chat/completions', { ca: ca.ca, token,
  body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] } });

test('discovery: the metadata says PKCE S256, the device flow and RFC 9207 iss', () => {
  const meta = publicApp.serverMetadata();
  assert.equal(meta.issuer, broker.url);
  assert.ok(meta.supportsPKCE());
  assert.ok(meta.device_authorization_endpoint);
  assert.equal(meta.authorization_response_iss_parameter_supported, true);
});

test('code flow with PKCE and RAR: the tokens carry the narrowed grant and work on the proxy', async () => {
  const tokens = await codeFlow(publicApp);
  assert.deepEqual(tokens.authorization_details[0].models, ['gpt-4o-mini']);
  assert.ok(tokens.expiresIn() > 0);
  assert.equal((await chatWith(tokens.access_token)).status, 200);
});

test('refresh: a new refresh token at every use; the used one is refused and ends the family', async () => {
  const first = await codeFlow(publicApp);
  const second = await client.refreshTokenGrant(publicApp, first.refresh_token);
  assert.notEqual(second.refresh_token, first.refresh_token);
  assert.deepEqual(second.authorization_details, first.authorization_details);
  await assert.rejects(client.refreshTokenGrant(publicApp, first.refresh_token), (e) => e.error === 'invalid_grant');
  assert.equal((await chatWith(second.access_token)).status, 401);
});

test('device flow: the device polls until the person approves, and gets the narrowed grant', async () => {
  const device = await client.initiateDeviceAuthorization(publicApp, { authorization_details: DETAILS });
  assert.match(device.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
  const polling = client.pollDeviceAuthorizationGrant(publicApp, device);
  assert.equal(await you.enterCode(session, device.user_code, 'approve'), '/device?done=approved');
  const tokens = await polling;
  assert.deepEqual(tokens.authorization_details[0].models, ['gpt-4o-mini']);
  assert.equal((await chatWith(tokens.access_token)).status, 200);
});

test('introspection and revocation: a confidential client sees its token active, revokes it, sees it inactive', async () => {
  const tokens = await codeFlow(confidentialApp);
  const active = await client.tokenIntrospection(confidentialApp, tokens.access_token);
  assert.equal(active.active, true);
  assert.equal(active.client_id, confidentialApp.clientMetadata().client_id);
  await client.tokenRevocation(confidentialApp, tokens.refresh_token);
  assert.deepEqual(await client.tokenIntrospection(confidentialApp, tokens.access_token), { active: false });
  assert.equal((await chatWith(tokens.access_token)).status, 401);
});
