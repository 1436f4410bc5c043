// An OpenID provider for the views' sign-in test: oidc-provider (a
// certified implementation, from npm) with one confidential client and
// its development login form, where the login typed becomes the account
// and its e-mail claim. Listens on 127.0.0.1:$PORT; the test stops it.
import { pathToFileURL } from 'node:url';

const { default: Provider } = await import(pathToFileURL(process.env.OIDC_PROVIDER_MODULE).href);
const { PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI } = process.env;
const issuer = `http://127.0.0.1:${PORT}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  claims: { openid: ['sub'], email: ['email'] },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: id, email: id }; } };
  },
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
});

provider.listen(Number(PORT), '127.0.0.1', () => console.log(`oidc-provider on ${issuer}`));
