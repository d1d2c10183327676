import { anyone, audit, input, signedIn, type PluginRouter } from '../../core/routes.js';
import { forgotForm, linksForm, loginForm, mailChoiceForm, newPasswordForm, passwordChangeForm, removeForm, sendLinkForm } from './forms.js';
import type { LocalHandlers } from './local.js';
import type { OAuthHandlers } from './oauth.js';
import type { OidcHandlers } from './oidc.js';
import { lecturersOnly } from './policy.js';
import type { ResetHandlers } from './reset.js';
import type { RosterHandlers } from './roster-page.js';

export interface AccountHandlers {
  local: LocalHandlers;
  reset: ResetHandlers;
  roster: RosterHandlers;
  /** Null when no provider of that kind is configured: then its routes do not exist (404). */
  oidc: OidcHandlers | null;
  oauth: OAuthHandlers | null;
}

/** Every route of the accounts plugin: sign-in and sign-up, the account page, password reset, sign-in providers, rosters. */
export function accountRoutes(r: PluginRouter, h: AccountHandlers): void {
  // Local sign-in, the account page and sign-up links (local.ts).
  r.get('/login', anyone, h.local.loginPage);
  r.post('/login', anyone, input(loginForm), h.local.login);
  r.post('/logout', anyone, h.local.logout);
  r.get('/account', signedIn, h.local.accountPage);
  r.post('/account/mail', signedIn, input(mailChoiceForm), h.local.mailChoice);
  r.post('/account/password', signedIn, input(passwordChangeForm), h.local.changePassword);
  r.get('/signup/:token', anyone, h.local.signupPage);
  r.post('/signup/:token', anyone, input(newPasswordForm), h.local.signup);

  // "Forgot password" by e-mail (reset.ts).
  r.get('/password/forgot', anyone, h.reset.forgotPage);
  r.post('/password/forgot', anyone, input(forgotForm), h.reset.forgot);
  r.get('/password/reset/:token', anyone, h.reset.resetPage);
  r.post('/password/reset/:token', anyone, input(newPasswordForm), h.reset.reset);

  // Single sign-on with OpenID Connect (oidc.ts), when a provider is configured.
  if (h.oidc) {
    r.get('/auth/oidc/:provider', anyone, h.oidc.begin);
    r.get('/auth/oidc/:provider/callback', anyone, h.oidc.callback);
  }

  // Sign-in with OAuth 2.0 providers (oauth.ts), when one is configured.
  if (h.oauth) {
    r.get('/auth/oauth/:provider', anyone, h.oauth.signIn);
    r.post('/auth/oauth/:provider/connect', signedIn, h.oauth.connect);
    r.get('/auth/oauth/:provider/callback', anyone, h.oauth.callback);
  }

  // A course's roster and sign-up links, for its lecturers (roster-page.ts). The import reads a
  // pasted field or an uploaded file itself (multipart), and checks the CSV line by line.
  r.get('/courses/:course/roster', lecturersOnly, h.roster.page);
  r.post('/courses/:course/roster/import', lecturersOnly, audit('roster.import'), h.roster.importCsv);
  r.post('/courses/:course/roster/links', lecturersOnly, input(linksForm), audit('roster.signup_links'), h.roster.downloadLinks);
  r.post('/courses/:course/roster/mail-links', lecturersOnly, input(linksForm), audit('roster.mail_links'), h.roster.mailAllLinks);
  r.post('/courses/:course/roster/send-link', lecturersOnly, input(sendLinkForm), audit('roster.send_link'), h.roster.sendLink);
  r.post('/courses/:course/roster/remove', lecturersOnly, input(removeForm), audit('roster.remove'), h.roster.remove);
}
