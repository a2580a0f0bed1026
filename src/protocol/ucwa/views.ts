// The UCWA resources of an application, built from its state (state.ts): what a GET
// answers and what events embed. Names, link rels and hrefs follow dialect A (§0, §3, §6, §7).
import { dataUri, type Link, type Resource, type Value } from './resource.js';
import { Hrefs, userPart, type UcwaApp, type UcwaConversation, type UcwaMessage, type UcwaParticipant, type UcwaParticipantInvitation } from './state.js';

const opId = (v: string | null | undefined): [string, Value][] => (v === undefined ? [] : [['operationId', v]]);

export function applicationView(app: UcwaApp): Resource {
  const h = new Hrefs(app.sid);
  return {
    rel: 'application',
    href: h.app,
    props: [
      ['culture', app.culture],
      ['userAgent', app.userAgent],
      ['type', 'Browser'],
      ['endpointId', app.endpointId],
      ['id', String(app.sid)],
      ...(app.instanceId !== undefined ? ([['instanceId', app.instanceId]] as [string, Value][]) : []),
    ],
    links: [
      ['policies', { href: `${h.app}/policies` }],
      ['batch', { href: `${h.app}/batch` }],
      ['events', { href: h.events(app.channel.answered?.n ?? app.channel.next) }],
    ],
    embedded: [
      ['me', meView(app)],
      ['people', peopleView(app)],
      ['onlineMeetings', onlineMeetingsView(app)],
      ['communication', communicationView(app)],
    ],
  };
}

export function meView(app: UcwaApp): Resource {
  const h = new Hrefs(app.sid);
  const links: [string, Link][] = app.available
    ? [
        ['note', { href: `${h.me}/note` }],
        ['presence', { href: `${h.me}/presence` }],
        ['location', { href: `${h.me}/location` }],
        ['reportMyActivity', { href: `${h.me}/reportMyActivity` }],
      ]
    : [['makeMeAvailable', { href: `${h.me}/makeMeAvailable` }]];
  return {
    rel: 'me',
    href: h.me,
    props: [
      ['name', app.name],
      ['uri', app.uri],
    ],
    links: [
      ...links,
      ['callForwardingSettings', { href: `${h.me}/callForwardingSettings` }],
      ['phones', { href: `${h.me}/phones` }],
      ['photo', { href: `${h.app}/photos/${userPart(app.uri)}` }],
    ],
  };
}

/** me/location (no location is published through the gateway: no `location` property). */
export function locationView(app: UcwaApp): Resource {
  return { rel: 'location', href: `${new Hrefs(app.sid).me}/location` };
}

/** me/phones: the user's phone lines (the gateway knows none, so the collection is empty). */
export function phonesView(app: UcwaApp): Resource {
  return { rel: 'phones', href: `${new Hrefs(app.sid).me}/phones` };
}

export function peopleView(app: UcwaApp): Resource {
  const p = new Hrefs(app.sid).people;
  return {
    rel: 'people',
    href: p,
    links: [
      ['presenceSubscriptions', { href: `${p}/presenceSubscriptions` }],
      ['subscribedContacts', { href: `${p}/subscribedContacts` }],
      ['presenceSubscriptionMemberships', { href: `${p}/presenceSubscriptionMemberships` }],
      ['myGroups', { href: `${p}/groups` }],
      ['myGroupMemberships', { href: `${p}/groupMemberships` }],
      ['myContacts', { href: `${p}/contacts` }],
      ['myPrivacyRelationships', { href: `${p}/privacyRelationships` }],
      ['myContactsAndGroupsSubscription', { href: `${p}/contactsAndGroupsSubscription` }],
      ['search', { href: `${p}/search` }],
    ],
  };
}

export function onlineMeetingsView(app: UcwaApp): Resource {
  const o = new Hrefs(app.sid).onlineMeetings;
  return {
    rel: 'onlineMeetings',
    href: o,
    links: [
      ['myOnlineMeetings', { href: `${o}/myOnlineMeetings` }],
      ['onlineMeetingDefaultValues', { href: `${o}/defaultValues` }],
      ['onlineMeetingEligibleValues', { href: `${o}/eligibleValues` }],
      ['onlineMeetingPolicies', { href: `${o}/policies` }],
    ],
  };
}

export function communicationView(app: UcwaApp): Resource {
  const h = new Hrefs(app.sid);
  return {
    rel: 'communication',
    href: h.communication,
    props: [
      [app.putName, 'please pass this in a PUT request'],
      ['supportedModalities', app.available ? app.modalities : []],
      ['supportedMessageFormats', app.formats],
      ['etag', String(app.etag)],
    ],
    links: [
      ['conversations', { href: `${h.communication}/conversations?filter=active` }],
      ['startMessaging', { href: `${h.communication}/messagingInvitations` }],
    ],
  };
}

function connected(c: UcwaConversation): boolean {
  return c.state === 'Connected' || c.state === 'Conferenced';
}

export function conversationView(app: UcwaApp, c: UcwaConversation): Resource {
  const h = new Hrefs(app.sid);
  const links: [string, Link][] = [
    ['messaging', { href: h.messaging(c) }],
    ['participants', { href: `${h.conversation(c)}/participants` }],
  ];
  if (connected(c)) {
    links.push(['localParticipant', { href: h.participant(c, app.uri), title: app.name }]);
    links.push(['addParticipant', { href: `${h.communication}/participantInvitations?conversation=${c.id}` }]);
  }
  return {
    rel: 'conversation',
    href: h.conversation(c),
    props: [
      ['state', c.state],
      ['threadId', c.threadId],
      ['subject', c.subject],
      ['activeModalities', c.state === 'Connecting' || c.state === 'Disconnected' ? [] : ['Messaging']],
      ['importance', c.importance],
      ['recording', false],
      ['participantCount', c.participants.length + 1],
      ...opId(c.operationId),
    ],
    links,
  };
}

export function messagingView(app: UcwaApp, c: UcwaConversation): Resource {
  const h = new Hrefs(app.sid);
  const m = h.messaging(c);
  const links: [string, Link][] = [['conversation', { href: h.conversation(c) }]];
  if (c.messaging !== 'Disconnected') links.push(['stopMessaging', { href: `${m}/terminate` }]);
  else links.push(['addMessaging', { href: `${m}/addMessaging` }]);
  if (c.messaging === 'Connected') {
    links.push(['sendMessage', { href: `${m}/messages` }], ['setIsTyping', { href: `${m}/typing` }], ['typingParticipants', { href: `${m}/typingParticipants` }]);
  }
  return {
    rel: 'messaging',
    href: m,
    props: [['state', c.messaging], ...(c.messaging === 'Connected' ? ([['negotiatedMessageFormats', app.formats]] as [string, Value][]) : []), ...opId(c.operationId)],
    links,
  };
}

export function participantView(app: UcwaApp, c: UcwaConversation, p: UcwaParticipant): Resource {
  const h = new Hrefs(app.sid);
  const local = p.uri.toLowerCase() === app.uri.toLowerCase();
  const self = h.participant(c, p.uri);
  const links: [string, Link][] = [['conversation', { href: h.conversation(c) }]];
  if (local) links.push(['me', { href: h.me }]);
  else links.push(['contact', { href: h.person(p.uri) }], ['contactPresence', { href: `${h.person(p.uri)}/presence` }]);
  links.push(['participantMessaging', { href: `${self}/messaging` }]);
  return {
    rel: 'participant',
    href: self,
    props: [
      ['name', p.name],
      ['uri', p.uri],
      ['sourceNetwork', 'SameEnterprise'],
      ['anonymous', false],
      ['local', local],
    ],
    links,
  };
}

export function participantMessagingView(app: UcwaApp, c: UcwaConversation, p: UcwaParticipant): Resource {
  const h = new Hrefs(app.sid);
  return { rel: 'participantMessaging', href: `${h.participant(c, p.uri)}/messaging`, links: [['participant', { href: h.participant(c, p.uri), title: p.name }]] };
}

export function invitationView(app: UcwaApp, c: UcwaConversation, phase: 'started' | 'updated' | 'completed' | 'get'): Resource {
  const h = new Hrefs(app.sid);
  const self = h.invitation(c);
  const links: [string, Link][] = [];
  const embedded: [string, Resource | Resource[]][] = [];
  if (c.direction === 'Outgoing') links.push(['from', { href: h.participant(c, app.uri), title: app.name }]);
  else embedded.push(['from', participantView(app, c, c.inviter)]);
  links.push(['to', { href: h.person(c.to) }], ['conversation', { href: h.conversation(c) }], ['messaging', { href: h.messaging(c) }]);
  if (c.firstMessage?.plain !== undefined) links.push(['message', { href: dataUri('text/plain', c.firstMessage.plain) }]);
  else if (c.firstMessage?.html !== undefined) links.push(['message', { href: dataUri('text/html', c.firstMessage.html) }]);
  if (c.direction === 'Incoming' && (phase === 'started' || phase === 'get') && c.invitationState === 'Connecting') {
    links.push(['accept', { href: `${self}/accept` }], ['decline', { href: `${self}/decline` }]);
  }
  if (c.direction === 'Outgoing' && c.invitationState === 'Connecting') links.push(['cancel', { href: `${h.messaging(c)}/terminate` }]);
  if (c.direction === 'Outgoing' && c.invitationState === 'Connected') {
    const accepted = c.participants.filter((p) => p.uri.toLowerCase() === c.to.toLowerCase());
    if (accepted.length > 0) embedded.push(['acceptedByParticipant', accepted.map((p) => participantView(app, c, p))]);
  }
  return {
    rel: 'messagingInvitation',
    href: self,
    props: [
      ['direction', c.direction],
      ['importance', c.importance],
      ['threadId', c.threadId],
      ['state', c.invitationState],
      ['subject', c.subject],
      ['to', c.to],
      ...opId(c.operationId),
      ...(phase === 'completed' ? ([['status', c.invitationState === 'Connected' ? 'Success' : 'Failure']] as [string, Value][]) : []),
    ],
    links,
    embedded,
  };
}

export function messageView(app: UcwaApp, c: UcwaConversation, m: UcwaMessage): Resource {
  const h = new Hrefs(app.sid);
  const links: [string, Link][] = [['messaging', { href: h.messaging(c) }]];
  if (m.direction === 'Incoming' && m.from) {
    const sender = c.participants.find((p) => p.uri.toLowerCase() === m.from!.toLowerCase()) ?? { uri: m.from, name: '' };
    links.push(['contact', { href: h.person(sender.uri) }], ['participant', { href: h.participant(c, sender.uri), title: sender.name }]);
    if (m.plain !== undefined) links.push(['plainMessage', { href: dataUri('text/plain', m.plain) }]);
    if (m.html !== undefined) links.push(['htmlMessage', { href: dataUri('text/html', m.html) }]);
  } else {
    links.push(['participant', { href: h.participant(c, app.uri), title: app.name }]);
  }
  if (m.status === 'Failed') {
    const others = c.participants.map((p) => ({ href: h.participant(c, p.uri), title: p.name }));
    if (others.length > 0) (links as [string, Link | Link[]][]).push(['failedDeliveryParticipant', others]);
  }
  return {
    rel: 'message',
    href: h.message(c, m.n),
    props: [
      ['direction', m.direction],
      ['timeStamp', { date: m.at }],
      ['status', m.status],
      ...(m.direction === 'Outgoing' ? opId(m.operationId) : []),
    ],
    links,
  };
}

export function participantsView(app: UcwaApp, c: UcwaConversation): Resource {
  const h = new Hrefs(app.sid);
  return {
    rel: 'participants',
    href: `${h.conversation(c)}/participants`,
    links: [['conversation', { href: h.conversation(c) }]],
    embedded: [
      ['localParticipant', participantView(app, c, { uri: app.uri, name: app.name })],
      ['participant', c.participants.map((p) => participantView(app, c, p))],
    ],
  };
}

export function typingParticipantsView(app: UcwaApp, c: UcwaConversation): Resource {
  const h = new Hrefs(app.sid);
  const typing = c.participants.filter((p) => c.typing.includes(p.uri.toLowerCase()));
  return {
    rel: 'typingParticipants',
    href: `${h.messaging(c)}/typingParticipants`,
    links: [['participant', typing.map((p): Link => ({ href: h.participant(c, p.uri), title: p.name }))] as [string, Link[]]],
  };
}

export function participantInvitationView(app: UcwaApp, c: UcwaConversation, inv: UcwaParticipantInvitation, completed: boolean): Resource {
  const h = new Hrefs(app.sid);
  return {
    rel: 'participantInvitation',
    href: h.participantInvitation(inv.id),
    props: [
      ['direction', 'Outgoing'],
      ['state', inv.state],
      ['to', inv.to],
      ...opId(inv.operationId),
      ...(completed ? ([['status', inv.state === 'Connected' ? 'Success' : 'Failure']] as [string, Value][]) : []),
    ],
    links: [
      ['conversation', { href: h.conversation(c) }],
      ['to', { href: h.person(inv.to) }],
    ],
  };
}

/** A person (people/<user>, the `contact` of a participant or message). */
export function contactView(app: UcwaApp, user: { uri: string; displayName?: string; email?: string; title?: string }): Resource {
  const h = new Hrefs(app.sid);
  const self = h.person(user.uri);
  return {
    rel: 'contact',
    href: self,
    props: [
      ['name', user.displayName ?? userPart(user.uri)],
      ['uri', user.uri],
      ['sourceNetwork', 'SameEnterprise'],
      ...(user.email ? ([['emailAddresses', [user.email]]] as [string, Value][]) : []),
      ...(user.title ? ([['title', user.title]] as [string, Value][]) : []),
      ['type', 'User'],
    ],
    links: [
      ['contactPresence', { href: `${self}/presence` }],
      ['contactPhoto', { href: `${h.app}/photos/${userPart(user.uri)}` }],
    ],
  };
}
