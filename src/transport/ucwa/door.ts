// The UCWA 1.0 door (ucwa-messaging.md): autodiscover, the OAuth token endpoint, the
// user resource, and everything under /ucwa/oauth/v1/applications. It decodes JSON,
// XML, form and query inputs into typed operations (protocol/ucwa/operations.ts), which
// change state only through the coordinator (`runUcwa`), and renders resources from the
// application's state (protocol/ucwa/views.ts) in the representation the request asks for.
// Paths: repeated slashes collapse (`//ucwa/…`), case does not matter, `/ucwa/v1/…`
// is read as `/ucwa/oauth/v1/…`.
import { signInWithPassword } from '../sign-in.js';
import type { NextFunction, Request, Response } from 'express';
import express from 'express';
import { addressKey } from '../../ops/rate-limit.js';
import { applicationGone, type FirstMessage, type UcwaOp, type UcwaResult } from '../../protocol/ucwa/operations.js';
import { parseDataUri, resourceJson, documentXml, type Resource } from '../../protocol/ucwa/resource.js';
import { UCWA_BASE, sameUri, type UcwaApp, type UcwaConversation } from '../../protocol/ucwa/state.js';
import {
  applicationView,
  communicationView,
  conversationView,
  invitationView,
  locationView,
  meView,
  messageView,
  messagingView,
  onlineMeetingsView,
  participantInvitationView,
  participantMessagingView,
  participantsView,
  participantView,
  peopleView,
  phonesView,
  typingParticipantsView,
} from '../../protocol/ucwa/views.js';
import { DEFAULT_GROUP_NAME } from '../../engine/identity.js';
import {
  AVAILABILITY_NAMES,
  contactNoteView,
  contactPresenceView,
  groupContactsView,
  groupView,
  listedPerson,
  membershipsView,
  myContactsView,
  myGroupsView,
  noteView,
  personView,
  presenceView,
  searchView,
  subscriptionsView,
  subscriptionView,
  summaryOf,
} from '../../protocol/ucwa/presence.js';
import type { TransportContext } from '../http/context.js';
import { clientAddress } from '../http/operability.js';
import { eventChannel, ParkedEventRequests } from './events.js';
import { baseUrlOf, challenge, sendCreated, sendNoContent, sendResource, sendUcwaError, JSON_TYPE, representationOf } from './http.js';
import { Input, InputError, isJsonType, isXmlType, mimeOf, parseFormInput, parseJsonInput, parseXmlInput } from './inputs.js';

export const AUTODISCOVER_PATH = '/Autodiscover/AutodiscoverService.svc/root';
export const USER_PATH = '/Autodiscover/AutodiscoverService.svc/root/oauth/user';
export const TOKEN_PATH = '/WebTicket/oauthtoken';
export const XFRAME_PATH = '/Autodiscover/XFrame/XFrame.html';

const bad = (message: string, subcode = 'ParameterValidationFailure') => new InputError(400, subcode, message);

/** The request path as the door matches it: no query, slashes collapsed, lower case, no trailing slash. */
export function ucwaPath(url: string): { path: string; query: URLSearchParams } {
  const q = url.indexOf('?');
  let path = (q < 0 ? url : url.slice(0, q)).replace(/\/{2,}/g, '/');
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  path = path.toLowerCase();
  if (path.startsWith('/ucwa/v1/')) path = `/ucwa/oauth/v1/${path.slice('/ucwa/v1/'.length)}`;
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    /* kept as sent */
  }
  return { path: decoded, query: new URLSearchParams(q < 0 ? '' : url.slice(q + 1)) };
}

/** Whether a request is the door's (the rest of the gateway serves everything else). */
export function isUcwaPath(path: string): boolean {
  return path === '/autodiscover' || path.startsWith('/autodiscover/') || path === TOKEN_PATH.toLowerCase() || path === '/ucwa' || path.startsWith('/ucwa/');
}

/** The autodiscover document (§2.1): absolute links on the base the client used. */
export function autodiscoverView(base: string): Resource {
  return {
    rel: 'root',
    href: base + AUTODISCOVER_PATH,
    links: [
      ['user', { href: base + USER_PATH }],
      ['xframe', { href: base + XFRAME_PATH }],
    ],
  };
}

export function ucwaDoor(ctx: TransportContext) {
  const parked = new ParkedEventRequests();
  const { limits } = ctx;
  const raw = express.raw({ type: () => true, limit: limits.maxBodyBytes });
  const xmlLimits = { maxDepth: limits.maxDepth, maxElements: limits.maxElements, maxAttributes: limits.maxAttributes, maxAttributeLength: limits.maxAttributeLength };
  const base = (req: Request) => baseUrlOf(req, ctx.publicUrl, ctx.ops.trustProxy);

  /** The body as text: bounded before it is read (Content-Length), then while streaming. */
  const bodyText = (req: Request, res: Response): Promise<string | undefined> =>
    new Promise((resolve) => {
      const length = Number(req.get('Content-Length') ?? '0');
      if (length > limits.maxBodyBytes) {
        sendUcwaError(req, res, 413, { code: 'EntityTooLarge', subcode: 'None', message: `The body is larger than ${limits.maxBodyBytes} bytes.` });
        res.setHeader('Connection', 'close');
        return resolve(undefined);
      }
      raw(req, res, (err?: unknown) => {
        if (err) {
          const e = err as { type?: string; status?: number };
          if (e.type === 'entity.too.large') sendUcwaError(req, res, 413, { code: 'EntityTooLarge', subcode: 'None', message: `The body is larger than ${limits.maxBodyBytes} bytes.` });
          else sendUcwaError(req, res, 400, { code: 'BadRequest', subcode: 'DeserializationFailure', message: 'The request body could not be read.' });
          return resolve(undefined);
        }
        const body = req.body as unknown;
        const buf = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
        const text = buf.toString('utf8');
        if (buf.length > 0 && Buffer.from(text, 'utf8').length !== buf.length && text.includes('\ufffd')) {
          sendUcwaError(req, res, 400, { code: 'BadRequest', subcode: 'DeserializationFailure', message: 'The body is not valid UTF-8.' });
          return resolve(undefined);
        }
        resolve(text);
      });
    });

  /** The input of a POST: JSON, XML, form; an empty body (whatever its Content-Type) is no input. */
  const inputOf = (req: Request, text: string, query: URLSearchParams): Input => {
    const mime = mimeOf(req.get('Content-Type'));
    let input: Input;
    if (text.trim() === '') input = new Input();
    else if (isJsonType(mime)) input = parseJsonInput(text, limits.maxDepth);
    else if (isXmlType(mime)) input = parseXmlInput(text, xmlLimits);
    else if (mime === 'application/x-www-form-urlencoded') input = parseFormInput(text);
    else if (mime === '' && text.trimStart().startsWith('{')) input = parseJsonInput(text, limits.maxDepth);
    else if (mime === '' && text.trimStart().startsWith('<')) input = parseXmlInput(text, xmlLimits);
    else throw new InputError(415, 'UnsupportedMediaType', `The content type ${mime || '(none)'} is not accepted here: send application/json or application/xml.`);
    input.addQuery(query);
    return input;
  };

  /** The message text of a sendMessage body (text/plain or text/html). */
  const messageOf = (req: Request, text: string): FirstMessage => {
    const mime = mimeOf(req.get('Content-Type'));
    if (mime === 'text/html') return { type: 'text/html', text };
    if (mime === 'text/plain' || mime === '' || mime === 'application/octet-stream') return { type: 'text/plain', text };
    if (isJsonType(mime) || isXmlType(mime)) {
      // Some clients wrap the text: {"message": "…"} or <input><property name="message">…
      // Others label plain text with their default type (a transport that sends every body as
      // application/xml): a body that is not a JSON object or an XML <input> is the text itself.
      const looksWrapped = isJsonType(mime) ? text.trimStart().startsWith('{') : text.trimStart().startsWith('<');
      if (!looksWrapped) return { type: 'text/plain', text };
      const input = isJsonType(mime) ? parseJsonInput(text, limits.maxDepth) : parseXmlInput(text, xmlLimits);
      const m = input.str('message') ?? input.str('text') ?? input.str('plainMessage');
      if (m === undefined) throw bad('Send the message as a text/plain or text/html body.');
      return { type: 'text/plain', text: m };
    }
    throw new InputError(415, 'UnsupportedMediaType', `Send the message as text/plain or text/html, not ${mime}.`);
  };

  const firstMessageOf = (input: Input): FirstMessage | undefined => {
    const href = input.href('message') ?? input.str('message');
    if (href === undefined) return undefined;
    const d = parseDataUri(href);
    if (!d) return href.startsWith('data:') ? undefined : { type: 'text/plain', text: href };
    return { type: d.type === 'text/html' ? 'text/html' : 'text/plain', text: d.text };
  };

  const operationIdOf = (input: Input): string | null | undefined => {
    for (const name of ['operationId', 'operationContext']) {
      const v = input.raw(name);
      if (v !== undefined) return Array.isArray(v) ? (v[0] ?? null) : v;
    }
    return undefined;
  };

  /** The token's user, or a 401 with the challenge. */
  const authenticate = async (req: Request, res: Response): Promise<string | undefined> => {
    const header = req.get('Authorization') ?? '';
    const m = /^Bearer\s+(?:cwt=)?(\S+)\s*$/i.exec(header);
    const check = m ? await ctx.coordinator.checkTicket(m[1]) : undefined;
    if (!check) {
      challenge(res, base(req) + TOKEN_PATH);
      sendUcwaError(req, res, 401, { code: 'Unauthorized', subcode: 'None', message: 'Sign in: POST the token endpoint named in WWW-Authenticate, then send Authorization: Bearer <access_token>.' });
      return undefined;
    }
    const outcome = ctx.ops.rates.ticket.take(check.current);
    if (!outcome.ok) {
      sendUcwaError(req, res, 429, { code: 'TooManyRequests', subcode: 'None', message: 'Too many requests: slow down.' }, { 'Retry-After': String(outcome.retryAfterS) });
      return undefined;
    }
    return check.login;
  };

  const applicationOf = async (login: string, sid: number): Promise<UcwaApp | undefined> => {
    let app = ctx.coordinator.state.ucwa.appOf(login, sid);
    if (!app) {
      const synced = ctx.coordinator.sync();
      if (synced) await synced;
      app = ctx.coordinator.state.ucwa.appOf(login, sid);
    }
    return app;
  };

  const run = async (req: Request, res: Response, login: string, op: UcwaOp, ok: (r: Extract<UcwaResult, { ok: true }>) => void): Promise<void> => {
    const result = await ctx.coordinator.runUcwa(login, op);
    if (!result.ok) return sendUcwaError(req, res, result.status, result.error);
    ok(result);
  };

  // ---- sign-in ------------------------------------------------------------------------

  const token = async (req: Request, res: Response, text: string): Promise<void> => {
    const { metrics, rates } = ctx.ops;
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Pragma', 'no-cache');
    const oauthError = (status: number, error: string, description: string, extra: Record<string, string> = {}) => {
      for (const [k, v] of Object.entries(extra)) res.setHeader(k, v);
      res.status(status).setHeader('Content-Type', JSON_TYPE);
      res.end(JSON.stringify({ error, error_description: description }));
    };
    const form = new URLSearchParams(text);
    const field = (name: string) => {
      for (const [k, v] of form) if (k.toLowerCase() === name) return v;
      return undefined;
    };
    const grant = field('grant_type');
    if (grant === undefined) return oauthError(400, 'invalid_request', 'grant_type is required (grant_type=password&username=…&password=…).');
    if (grant !== 'password') return oauthError(400, 'unsupported_grant_type', `grant_type ${grant} is not supported: use password.`, { 'X-Ms-diagnostics': '28029;source="cwa-gateway";reason="Authentication type not allowed."' });
    const name = field('username');
    const password = field('password');
    if (!name || password === undefined) return oauthError(400, 'invalid_request', 'username and password are required.');
    const address = clientAddress(req, ctx.ops.trustProxy);
    const perAddress = rates.logonAddress.take(addressKey(address));
    if (!perAddress.ok) {
      metrics.logons.inc({ result: 'throttled' });
      return oauthError(429, 'temporarily_unavailable', 'Too many sign-in attempts: try again later.', { 'Retry-After': String(perAddress.retryAfterS) });
    }
    const signedIn = await signInWithPassword(ctx, name, password, address, { door: 'ucwa' });
    if (signedIn.throttled) {
      return oauthError(429, 'temporarily_unavailable', 'Too many failed sign-ins: try again later.', { 'Retry-After': String(signedIn.throttled.retryAfterS) });
    }
    if (!signedIn.ok) {
      return oauthError(400, 'invalid_grant', 'The user name or password is incorrect.', { 'X-Ms-diagnostics': '28020;source="cwa-gateway";reason="No valid security token."' });
    }
    const { ticket } = signedIn;
    res.status(200).setHeader('Content-Type', JSON_TYPE);
    res.end(JSON.stringify({ access_token: `cwt=${ticket}`, expires_in: ctx.engine.config.ticketTtlS, ms_rtc_identityscope: 'local', token_type: 'Bearer' }));
  };

  // ---- the application's resources ------------------------------------------------------

  const conversation = (app: UcwaApp, id: string | undefined): UcwaConversation | undefined => (id === undefined ? undefined : app.conversations.get(id));

  const get = (req: Request, res: Response, app: UcwaApp, rest: string[]): boolean => {
    const send = (r: Resource | undefined) => (r ? sendResource(req, res, 200, r) : notFound(req, res));
    const [a, b, c, d, e, f] = rest;
    if (rest.length === 0) return send(applicationView(app)), true;
    if (a === 'me' && rest.length === 1) return send(meView(app)), true;
    // Linked from me once available; the Windows Store sample GETs both while signing in.
    if (a === 'me' && rest.length === 2 && b === 'location') return send(app.available ? locationView(app) : undefined), true;
    if (a === 'me' && rest.length === 2 && b === 'phones') return send(phonesView(app)), true;
    if (a === 'people' && rest.length === 1) return send(peopleView(app)), true;
    if (a === 'onlineMeetings'.toLowerCase() && rest.length === 1) return send(onlineMeetingsView(app)), true;
    if (a === 'communication' && rest.length === 1) return send(communicationView(app)), true;
    if (a !== 'communication') return false;
    if (b === 'conversations' && rest.length === 2) {
      return send({ rel: 'conversations', href: `${UCWA_BASE}/${app.sid}/communication/conversations`, links: [['conversation', [...app.conversations.values()].map((x) => ({ href: conversationView(app, x).href }))]] }), true;
    }
    if (b === 'messaginginvitations' && rest.length === 3) {
      const conv = [...app.conversations.values()].find((x) => x.invitationId === c);
      return send(conv && invitationView(app, conv, 'get')), true;
    }
    if (b === 'participantinvitations' && rest.length === 3) {
      for (const conv of app.conversations.values()) {
        const inv = conv.participantInvitations.find((i) => i.id === c);
        if (inv) return send(participantInvitationView(app, conv, inv, false)), true;
      }
      return send(undefined), true;
    }
    if (b !== 'conversations') return false;
    const conv = conversation(app, c);
    if (!conv) return send(undefined), true;
    if (rest.length === 3) return send(conversationView(app, conv)), true;
    if (d === 'messaging' && rest.length === 4) return send(messagingView(app, conv)), true;
    if (d === 'messaging' && e === 'typingparticipants' && rest.length === 5) return send(typingParticipantsView(app, conv)), true;
    if (d === 'messaging' && e === 'messages' && rest.length === 6) {
      const m = conv.messages.find((x) => String(x.n) === f);
      return send(m && messageView(app, conv, m)), true;
    }
    if (d === 'participants' && rest.length === 4) return send(participantsView(app, conv)), true;
    if (d === 'participants' && (rest.length === 5 || (rest.length === 6 && f === 'messaging'))) {
      const p = sameUri(e!, app.uri) ? { uri: app.uri, name: app.name } : conv.participants.find((x) => sameUri(x.uri, e!));
      if (!p) return send(undefined), true;
      return send(rest.length === 5 ? participantView(app, conv, p) : participantMessagingView(app, conv, p)), true;
    }
    return false;
  };

  /** me/presence, me/note and everything under people/ (read from the engine's presence, contacts and directory). */
  const getPeople = async (req: Request, res: Response, app: UcwaApp, rest: string[], query: URLSearchParams): Promise<boolean> => {
    const send = (r: Resource | undefined) => (r ? sendResource(req, res, 200, r) : notFound(req, res));
    const [a, b, c, d] = rest;
    const seen = async (uri: string) => summaryOf((await ctx.engine.presence.seenBy(uri, app.uri)).categories);
    if (a === 'me' && rest.length === 2 && (b === 'presence' || b === 'note')) {
      const s = await seen(app.uri);
      return send(b === 'presence' ? presenceView(app, s) : noteView(app, s)), true;
    }
    if (a !== 'people' || rest.length < 2) return false;
    const directoryPerson = (uri: string) => ctx.engine.directory.findByUri(uri);
    if (b === 'search' && rest.length === 2) {
      const q = (query.get('query') ?? query.get('keywords') ?? '').trim();
      if (q === '') throw bad('query is required: part of a name or an e-mail address.');
      if (q.length > 256) throw bad('query is longer than 256 characters.');
      const max = ctx.engine.search.maxResults;
      const limitRaw = query.get('limit');
      if (limitRaw !== null && !/^\d{1,9}$/.test(limitRaw.trim())) throw bad('limit must be a whole number.');
      const limit = limitRaw === null ? max : Math.min(max, Math.max(1, Number(limitRaw)));
      const words = [q];
      const found = ctx.engine.search.find({ firstName: words, lastName: words, displayName: words, emailAlias: words, function: 'or' }, limit);
      return send(searchView(app, q, limit, found.users, found.moreAvailable)), true;
    }
    if (b === 'contacts' && rest.length === 2) {
      const list = await ctx.engine.contacts.listOf(app.uri);
      return send(myContactsView(app, list.contacts.map((x) => listedPerson(x, directoryPerson)))), true;
    }
    if (b === 'groups') {
      const list = await ctx.engine.contacts.listOf(app.uri);
      const defaultId = list.groups.find((g) => g.name === DEFAULT_GROUP_NAME)?.id;
      if (rest.length === 2) return send(myGroupsView(app, list.groups, defaultId)), true;
      const group = list.groups.find((g) => String(g.id) === c);
      if (!group || rest.length > 4 || (rest.length === 4 && d !== 'contacts')) return send(undefined), true;
      if (rest.length === 3) return send(groupView(app, group, group.id === defaultId)), true;
      const members = list.contacts.filter((x) => x.groups.includes(group.id));
      return send(groupContactsView(app, group, members.map((x) => listedPerson(x, directoryPerson)))), true;
    }
    if (b === 'presencesubscriptions') {
      if (rest.length === 2) return send(subscriptionsView(app)), true;
      const sub = app.presence.subscriptions.get(c!);
      if (!sub) return send(undefined), true;
      if (rest.length === 3) return send(subscriptionView(app, sub)), true;
      if (rest.length === 4 && d === 'memberships') return send(membershipsView(app, sub)), true;
      return send(undefined), true;
    }
    if (!b!.includes('@') || rest.length > 3) return false;
    const user = directoryPerson(`sip:${b}`);
    if (!user) return send(undefined), true;
    if (rest.length === 2) return send(personView(app, user)), true;
    if (c === 'presence' || c === 'note') {
      const s = await seen(user.uri);
      return send(c === 'presence' ? contactPresenceView(app, user.uri, s) : contactNoteView(app, user.uri, s)), true;
    }
    return false;
  };

  /** The URIs of a presence subscription input: `uris` (or `contactUris`), as an array or one string. */
  const urisOf = (input: Input): string[] => {
    const uris = input.list('uris') ?? input.list('contactUris');
    if (!uris || uris.length === 0) throw bad('uris is required: the SIP URIs of the people to follow.');
    if (uris.some((u) => u.length > 256)) throw bad('A URI is longer than 256 characters.');
    return uris;
  };

  const post = async (req: Request, res: Response, login: string, app: UcwaApp, rest: string[], query: URLSearchParams, text: string): Promise<boolean> => {
    const [a, b, c, d, e, f] = rest;
    const sid = app.sid;
    const done204 = () => sendNoContent(res);
    if ((a === 'me' && b === 'makemeavailable' && rest.length === 2)) {
      const input = inputOf(req, text, query);
      const modalities = input.list('supportedModalities');
      const formats = input.list('supportedMessageFormats');
      const signInAs = input.str('signInAs');
      await run(req, res, login, { kind: 'makeMeAvailable', app: sid, ...(modalities ? { modalities } : {}), ...(formats ? { formats } : {}), ...(signInAs !== undefined ? { signInAs } : {}) }, done204);
      return true;
    }
    if (a === 'me' && b === 'presence' && rest.length === 2) {
      const availability = inputOf(req, text, query).str('availability');
      if (availability === undefined) throw bad(`availability is required: ${AVAILABILITY_NAMES.join(', ')}.`);
      await run(req, res, login, { kind: 'setPresence', app: sid, availability }, done204);
      return true;
    }
    if (a === 'me' && b === 'note' && rest.length === 2) {
      const input = inputOf(req, text, query);
      if (!input.has('message')) throw bad('message is required (an empty message clears the note).');
      await run(req, res, login, { kind: 'setNote', app: sid, message: input.str('message') ?? '' }, done204);
      return true;
    }
    if (a === 'people' && b === 'presencesubscriptions' && rest.length === 2) {
      const input = inputOf(req, text, query);
      const uris = urisOf(input);
      const durationRaw = input.str('duration');
      if (durationRaw !== undefined && !/^\s*\d{1,9}\s*$/.test(durationRaw)) throw bad('duration must be a whole number of minutes.');
      await run(req, res, login, { kind: 'subscribePresence', app: sid, uris, ...(durationRaw !== undefined ? { duration: Number(durationRaw) } : {}) }, (r) => {
        const sub = app.presence.subscriptions.get(r.id!)!;
        res.setHeader('Location', r.location!);
        sendResource(req, res, 201, subscriptionView(app, sub));
      });
      return true;
    }
    if (a === 'people' && b === 'presencesubscriptions' && rest.length === 4 && d === 'addtopresencesubscription') {
      const uris = urisOf(inputOf(req, text, query));
      await run(req, res, login, { kind: 'addToSubscription', app: sid, id: c!, uris }, (r) => {
        sendResource(req, res, 200, membershipsView(app, app.presence.subscriptions.get(r.id!)!));
      });
      return true;
    }
    if ((a === 'me' && b === 'reportmyactivity' && rest.length === 2) || (a === 'reportmyactivity' && rest.length === 1)) {
      await run(req, res, login, { kind: 'reportMyActivity', app: sid }, done204);
      return true;
    }
    if (a !== 'communication') return false;
    if (b === 'messaginginvitations' && rest.length === 2) {
      const input = inputOf(req, text, query);
      const to = input.str('to');
      if (!to) throw bad('to is required: the SIP URI of the person to message.');
      const message = firstMessageOf(input);
      const subject = input.str('subject');
      if (subject !== undefined && subject.length > 250) throw bad('subject is longer than 250 characters.');
      const operationId = operationIdOf(input);
      const importance = input.str('importance');
      const threadId = input.str('threadId');
      await run(req, res, login, {
        kind: 'startMessaging',
        app: sid,
        to,
        ...(operationId !== undefined ? { operationId } : {}),
        ...(subject !== undefined ? { subject } : {}),
        ...(importance !== undefined ? { importance } : {}),
        ...(threadId !== undefined ? { threadId } : {}),
        ...(message ? { message } : {}),
      }, (r) => sendCreated(res, r.location));
      return true;
    }
    if (b === 'messaginginvitations' && rest.length === 4 && (d === 'accept' || d === 'decline')) {
      await run(req, res, login, { kind: d, app: sid, invitation: c! }, done204);
      return true;
    }
    if (b === 'participantinvitations' && rest.length === 2) {
      const input = inputOf(req, text, query);
      const conv = input.str('conversation');
      const to = input.str('to');
      if (!conv) throw bad('conversation is required (it is in the addParticipant link).');
      if (!to) throw bad('to is required: the SIP URI of the person to add.');
      const operationId = operationIdOf(input);
      await run(req, res, login, { kind: 'addParticipant', app: sid, conv: conv.toLowerCase(), to, ...(operationId !== undefined ? { operationId } : {}) }, (r) => sendCreated(res, r.location));
      return true;
    }
    if (b !== 'conversations' || d !== 'messaging') return false;
    // sendMessage: the messages collection, or (a bot's habit) a message's own href.
    if (e === 'messages' && (rest.length === 5 || rest.length === 6)) {
      const message = messageOf(req, text);
      const input = new Input();
      input.addQuery(query);
      const operationId = operationIdOf(input);
      await run(req, res, login, { kind: 'sendMessage', app: sid, conv: c!, message, ...(operationId !== undefined ? { operationId } : {}) }, (r) => sendCreated(res, r.location));
      return true;
    }
    if (e === 'typing' && rest.length === 5) {
      await run(req, res, login, { kind: 'setIsTyping', app: sid, conv: c! }, done204);
      return true;
    }
    if (e === 'addmessaging' && rest.length === 5) {
      const input = inputOf(req, text, query);
      const message = firstMessageOf(input);
      const operationId = operationIdOf(input);
      await run(req, res, login, { kind: 'addMessaging', app: sid, conv: c!, ...(operationId !== undefined ? { operationId } : {}), ...(message ? { message } : {}) }, (r) => sendCreated(res, r.location));
      return true;
    }
    if ((e === 'terminate' || e === 'stopmessaging') && rest.length === 5) {
      await run(req, res, login, { kind: 'stopMessaging', app: sid, conv: c! }, done204);
      return true;
    }
    void f;
    return false;
  };

  const notFound = (req: Request, res: Response) => sendUcwaError(req, res, 404, { code: 'NotFound', subcode: 'ResourceNotFound', message: 'No such resource.' });

  const handle = async (req: Request, res: Response, path: string, query: URLSearchParams): Promise<void> => {
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    // Autodiscover and the user resource (§2).
    if (path === AUTODISCOVER_PATH.toLowerCase() || path === '/autodiscover/autodiscoverservice.svc') {
      if (method !== 'GET') return methodNotAllowed(req, res, 'GET');
      return sendResource(req, res, 200, autodiscoverView(base(req)));
    }
    if (path === USER_PATH.toLowerCase() || path === `${AUTODISCOVER_PATH.toLowerCase()}/user`) {
      if (method !== 'GET') return methodNotAllowed(req, res, 'GET');
      const login = await authenticate(req, res);
      if (!login) return;
      const b = base(req);
      return sendResource(req, res, 200, {
        rel: 'user',
        href: b + USER_PATH,
        links: [
          ['applications', { href: b + UCWA_BASE }],
          ['xframe', { href: b + XFRAME_PATH }],
        ],
      });
    }
    if (path === XFRAME_PATH.toLowerCase()) {
      res.status(200).type('text/html; charset=utf-8').end('<!DOCTYPE html><html><head><title>XFrame</title></head><body></body></html>');
      return;
    }
    if (path === TOKEN_PATH.toLowerCase()) {
      if (method !== 'POST') return methodNotAllowed(req, res, 'POST');
      const text = await bodyText(req, res);
      if (text === undefined) return;
      return token(req, res, text);
    }
    if (!path.startsWith(UCWA_BASE)) return notFound(req, res);
    const login = await authenticate(req, res);
    if (!login) return;
    const rest = path.slice(UCWA_BASE.length).split('/').filter((s) => s !== '');
    if (rest.length === 0) {
      if (method !== 'POST') return methodNotAllowed(req, res, 'POST');
      const text = await bodyText(req, res);
      if (text === undefined) return;
      const input = inputOf(req, text, query);
      const endpointId = input.str('endpointId');
      const culture = input.str('culture');
      const userAgent = input.str('userAgent');
      const missing = [['endpointId', endpointId], ['culture', culture], ['userAgent', userAgent]].filter(([, v]) => v === undefined).map(([n]) => n);
      if (missing.length > 0) throw bad(`Required: ${missing.join(', ')}.`);
      for (const [n, v] of [['endpointId', endpointId], ['culture', culture], ['userAgent', userAgent]] as const) {
        if (v!.length > 100) throw bad(`${n} is longer than 100 characters.`);
      }
      const instanceId = input.str('instanceId');
      return run(req, res, login, { kind: 'createApplication', endpointId: endpointId!, culture: culture!, userAgent: userAgent!, ...(instanceId !== undefined ? { instanceId } : {}) }, (r) => {
        const app = ctx.coordinator.state.ucwa.appOf(login, r.app!)!;
        res.setHeader('Location', `${UCWA_BASE}/${app.sid}`);
        sendResource(req, res, 201, applicationView(app));
      });
    }
    const sid = /^\d{1,15}$/.test(rest[0]!) ? Number(rest[0]) : undefined;
    const app = sid === undefined ? undefined : await applicationOf(login, sid);
    const tail = rest.slice(1);
    const events = tail.length === 1 && tail[0] === 'events';
    // An ended application's event channel still reads what its log kept, then why it ended.
    if (!app || (app.ended && !events)) {
      const gone = applicationGone(app);
      return sendUcwaError(req, res, gone.status, gone.error);
    }
    const session = ctx.engine.sessionFor(login, app.sid);
    if (events) {
      if (method !== 'GET') return methodNotAllowed(req, res, 'GET');
      if (session) {
        const touched = ctx.coordinator.touch(session);
        if (touched) await touched;
      }
      return eventChannel(ctx, parked, req, res, login, app, query);
    }
    if (method === 'GET') {
      if (session) {
        const touched = ctx.coordinator.touch(session);
        if (touched) await touched;
      }
      if (!(await getPeople(req, res, app, tail, query)) && !get(req, res, app, tail)) notFound(req, res);
      return;
    }
    if (method === 'DELETE') {
      if (tail.length === 0) return run(req, res, login, { kind: 'deleteApplication', app: app.sid }, () => sendNoContent(res));
      if (tail.length === 3 && tail[0] === 'people' && tail[1] === 'presencesubscriptions') {
        return run(req, res, login, { kind: 'unsubscribePresence', app: app.sid, id: tail[2]! }, () => sendNoContent(res));
      }
      if (tail.length === 3 && tail[0] === 'communication' && tail[1] === 'conversations') {
        return run(req, res, login, { kind: 'stopMessaging', app: app.sid, conv: tail[2]! }, () => sendNoContent(res));
      }
      return notFound(req, res);
    }
    if (method === 'POST') {
      const text = await bodyText(req, res);
      if (text === undefined) return;
      if (!(await post(req, res, login, app, tail, query, text))) notFound(req, res);
      return;
    }
    return methodNotAllowed(req, res, 'GET, POST, DELETE');
  };

  return (req: Request, res: Response, next: NextFunction): void => {
    const { path, query } = ucwaPath(req.url);
    if (!isUcwaPath(path)) return next();
    handle(req, res, path, query).catch((err: unknown) => {
      if (err instanceof InputError) {
        if (res.headersSent) return;
        return sendUcwaError(req, res, err.status, { code: err.status === 415 ? 'UnsupportedMediaType' : 'BadRequest', subcode: err.subcode, message: err.message });
      }
      next(err);
    });
  };
}

function methodNotAllowed(req: Request, res: Response, allow: string): void {
  res.setHeader('Allow', allow);
  sendUcwaError(req, res, 405, { code: 'MethodNotAllowed', subcode: 'None', message: `Use ${allow}.` });
}

/** The UCWA caller's answer at `GET /`: the autodiscover document. */
export function ucwaRootAnswer(ctx: TransportContext) {
  return (req: Request, res: Response): void => {
    sendResource(req, res, 200, autodiscoverView(baseUrlOf(req, ctx.publicUrl, ctx.ops.trustProxy)));
  };
}

// Re-exported for tests: the renderers of the door's documents.
export { resourceJson, documentXml, representationOf };
