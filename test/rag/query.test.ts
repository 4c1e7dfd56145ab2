import { describe, expect, test } from "bun:test";
import { prepareQuery } from "../../src/rag/query.ts";

/** Realistic emails and chats: what must survive (the question) and what must go (everything else). */
interface Case {
  name: string;
  text: string;
  /** Substrings the query must keep. */
  keep: string[];
  /** Substrings the query must not contain (case-insensitive). */
  drop: string[];
  empty?: boolean;
}

const cases: Case[] = [
  {
    name: "EN email, greeting + regards + contact block",
    text: "Hi,\n\nI lost my card yesterday, how do I freeze it?\n\nBest regards,\nEmma Dubois\nACME GmbH | +49 30 1234567",
    keep: ["I lost my card yesterday, how do I freeze it?"],
    drop: ["Hi", "regards", "Emma", "ACME", "+49"],
  },
  {
    name: "EN chat, greeting prefix on the question line",
    text: "Hi there, can I top up with a cheque?",
    keep: ["can I top up with a cheque?"],
    drop: ["Hi there"],
  },
  {
    name: "EN: only a greeting",
    text: "Hello!",
    keep: [],
    drop: ["Hello"],
    empty: true,
  },
  {
    name: "EN: only thanks and a name",
    text: "Thanks a lot!\n\nJohn",
    keep: [],
    drop: ["Thanks", "John"],
    empty: true,
  },
  {
    name: "EN: question after a sign-off-like line",
    text: "Thanks!\nAlso, can I change my PIN at a cash machine abroad?\n",
    keep: ["can I change my PIN at a cash machine abroad?"],
    drop: ["Thanks"],
  },
  {
    name: "EN: thanks in advance inside the question line",
    text: "Hello team,\nHow long does an international transfer take to arrive? Thanks in advance for your help.\nMark",
    keep: ["How long does an international transfer take to arrive?"],
    drop: ["Thanks in advance", "Mark", "Hello team"],
  },
  {
    name: "EN: leading thanks clause before the question",
    text: "Thanks in advance, how do I close my account?",
    keep: ["how do I close my account?"],
    drop: ["Thanks in advance"],
  },
  {
    name: "EN: Gmail quoted history",
    text: "Still not working, the app says my card is blocked.\n\nOn Mon, 30 Nov 2026 at 09:12, Northwind Support <help@northwind.example> wrote:\n> Please try again and tell us what you see.\n> Kind regards",
    keep: ["Still not working, the app says my card is blocked."],
    drop: ["wrote", "Please try again", "help@northwind"],
  },
  {
    name: "EN: Outlook original message",
    text: "Can you refund the duplicate fee?\n\n-----Original Message-----\nFrom: Support <support@bank.example>\nSent: Tuesday, December 1, 2026 10:00 AM\nTo: Jane Roe\nSubject: RE: fee\n\nWe have checked your account.",
    keep: ["Can you refund the duplicate fee?"],
    drop: ["Original Message", "We have checked", "Subject"],
  },
  {
    name: "EN: Outlook header block without a separator line",
    text: "Why was my payment declined at the supermarket?\n\nFrom: Northwind Bank <noreply@northwind.example>\nSent: 02 December 2026 18:03\nTo: jane@example.com\nSubject: Card payment declined\n\nA payment of £54.20 was declined.",
    keep: ["Why was my payment declined at the supermarket?"],
    drop: ["noreply", "was declined.", "Subject"],
  },
  {
    name: "EN: confidentiality disclaimer",
    text: "Dear Sir or Madam,\n\nPlease tell me how to add a second user to our business account.\n\nKind regards,\nPeter Miles\nHead of Finance\nMiles & Co Ltd\n\nThis email and any attachments are confidential and intended solely for the use of the addressee. If you have received this email in error please notify the sender.",
    keep: ["Please tell me how to add a second user to our business account."],
    drop: ["Dear", "Peter", "Finance", "Ltd", "confidential", "addressee"],
  },
  {
    name: "EN: -- signature delimiter and mobile footer",
    text: "My direct debit to the gym went out twice this month, can you reverse one?\n--\nSam Taylor\n07700 900123",
    keep: ["My direct debit to the gym went out twice this month, can you reverse one?"],
    drop: ["Sam", "07700"],
  },
  {
    name: "EN: sent from my iPhone",
    text: "how do i turn on 2fa\n\nSent from my iPhone",
    keep: ["how do i turn on 2fa"],
    drop: ["iPhone"],
  },
  {
    name: "EN: hope this finds you well + looking forward",
    text: "Good morning,\n\nI hope this email finds you well. I would like to know the daily limit for cash withdrawals.\n\nLooking forward to hearing from you.\n\nCheers,\nAlex",
    keep: ["I would like to know the daily limit for cash withdrawals."],
    drop: ["hope", "Looking forward", "Cheers", "Alex", "Good morning"],
  },
  {
    name: "EN: phone number that is part of the question is kept",
    text: "I changed my phone number to +44 7700 900456, how do I update it so I get the security codes?",
    keep: ["+44 7700 900456", "how do I update it"],
    drop: [],
  },
  {
    name: "EN: address block in signature",
    text: "Is there a fee for receiving money from abroad?\n\nRegards\nLinda Green\n221B Baker Street\nLondon NW1 6XE\nTel: 020 7946 0000",
    keep: ["Is there a fee for receiving money from abroad?"],
    drop: ["Linda", "Baker", "NW1", "020 7946"],
  },
  {
    name: "EN: multi-paragraph question keeps both paragraphs",
    text: "Hi Anna,\n\nI made a transfer to the wrong account number this morning.\n\nIs there any way to get the money back?\n\nThanks,\nTom",
    keep: ["I made a transfer to the wrong account number this morning.", "Is there any way to get the money back?"],
    drop: ["Anna", "Tom", "Thanks"],
  },
  {
    name: "FR email, bonjour + cordialement + contact",
    text: "Bonjour,\n\nJ'ai perdu ma carte bancaire, comment puis-je la bloquer ?\n\nCordialement,\nÉmilie Martin\nSARL Martin & Fils\nTél. : +33 1 23 45 67 89\n12 rue de la Paix, 75002 Paris",
    keep: ["J'ai perdu ma carte bancaire, comment puis-je la bloquer ?"],
    drop: ["Bonjour", "Cordialement", "Émilie", "SARL", "+33", "rue de la Paix"],
  },
  {
    name: "FR: greeting prefix, merci d'avance",
    text: "Bonjour, quels sont les frais pour un virement international ? Merci d'avance.",
    keep: ["quels sont les frais pour un virement international ?"],
    drop: ["Bonjour", "Merci"],
  },
  {
    name: "FR: quoted history 'a écrit'",
    text: "Toujours pas de remboursement.\n\nLe lun. 30 nov. 2026 à 10:15, Service client <aide@banque.example> a écrit :\n> Nous avons lancé le remboursement.",
    keep: ["Toujours pas de remboursement."],
    drop: ["a écrit", "Nous avons lancé"],
  },
  {
    name: "FR: message d'origine + disclaimer",
    text: "Madame, Monsieur,\n\nPouvez-vous m'envoyer un relevé de compte pour novembre ?\n\nBien à vous,\nJean Dupont\n\nCe message et ses pièces jointes sont confidentiels et destinés exclusivement au destinataire.\n\n-------- Message d'origine --------\nDe : Banque\nObjet : Relevé",
    keep: ["Pouvez-vous m'envoyer un relevé de compte pour novembre ?"],
    drop: ["Madame", "Jean", "confidentiels", "Relevé\n", "Objet"],
  },
  {
    name: "FR: only a greeting",
    text: "Bonjour !",
    keep: [],
    drop: ["Bonjour"],
    empty: true,
  },
  {
    name: "DE email, formal greeting + MfG + company footer",
    text: "Sehr geehrte Damen und Herren,\n\nwie kann ich mein Konto kündigen?\n\nMit freundlichen Grüßen\nEmma Dubois\nACME GmbH | +49 30 1234567\nMusterstraße 12, 10115 Berlin",
    keep: ["wie kann ich mein Konto kündigen?"],
    drop: ["Sehr geehrte", "Grüßen", "Emma", "ACME", "+49", "Musterstraße"],
  },
  {
    name: "DE chat: Hallo prefix, danke im voraus",
    text: "Hallo, warum wurde meine Kartenzahlung abgelehnt? Danke im Voraus!",
    keep: ["warum wurde meine Kartenzahlung abgelehnt?"],
    drop: ["Hallo", "Danke"],
  },
  {
    name: "DE: schrieb quote header + Von meinem iPhone",
    text: "Die Überweisung ist immer noch nicht angekommen.\n\nVon meinem iPhone gesendet\n\nAm 01.12.2026 um 14:03 schrieb Northwind Support <help@northwind.example>:\n> Bitte warten Sie zwei Werktage.",
    keep: ["Die Überweisung ist immer noch nicht angekommen."],
    drop: ["iPhone", "schrieb", "zwei Werktage"],
  },
  {
    name: "DE: ursprüngliche Nachricht + Vertraulichkeitshinweis",
    text: "Guten Tag,\n\nich brauche eine Bestätigung meiner Adressänderung.\n\nViele Grüße\nKlaus Weber\nGeschäftsführer\n\nDiese E-Mail ist vertraulich. Wenn Sie nicht der richtige Adressat sind oder diese E-Mail irrtümlich erhalten haben, informieren Sie bitte sofort den Absender.\n\n----- Ursprüngliche Nachricht -----\nVon: Northwind\nBetreff: Adresse",
    keep: ["ich brauche eine Bestätigung meiner Adressänderung."],
    drop: ["Guten Tag", "Klaus", "Geschäftsführer", "vertraulich", "Betreff"],
  },
  {
    name: "DE: LG and first name only",
    text: "Hi, kann ich Geld mit Apple Pay aufladen?\nLG\nJonas",
    keep: ["kann ich Geld mit Apple Pay aufladen?"],
    drop: ["LG", "Jonas", "Hi"],
  },
  {
    name: "ES email, hola + saludos + firma",
    text: "Hola,\n\n¿Cómo puedo cambiar el PIN de mi tarjeta?\n\nSaludos,\nCarlos Pérez\nPérez Consultores S.L.\nTel: +34 912 345 678\nCalle Mayor 10, 28013 Madrid",
    keep: ["¿Cómo puedo cambiar el PIN de mi tarjeta?"],
    drop: ["Hola", "Saludos", "Carlos", "S.L.", "+34", "Calle Mayor"],
  },
  {
    name: "ES: estimados + quedo a la espera + atentamente",
    text: "Estimados señores:\n\nMe han cobrado dos veces la misma compra. ¿Pueden devolverme el importe? Quedo a la espera de su respuesta.\n\nAtentamente,\nLucía Gómez",
    keep: ["Me han cobrado dos veces la misma compra.", "¿Pueden devolverme el importe?"],
    drop: ["Estimados", "Quedo", "Atentamente", "Lucía"],
  },
  {
    name: "ES: escribió quote + enviado desde mi",
    text: "Sigo sin poder entrar en la app.\nEnviado desde mi iPhone\n\nEl lun, 30 nov 2026 a las 9:00, Soporte <ayuda@banco.example> escribió:\n> Pruebe a reinstalar la aplicación.",
    keep: ["Sigo sin poder entrar en la app."],
    drop: ["iPhone", "escribió", "reinstalar"],
  },
  {
    name: "ES: only thanks",
    text: "¡Muchas gracias!",
    keep: [],
    drop: ["gracias"],
    empty: true,
  },
  {
    name: "ES: buenos días prefix, gracias de antemano",
    text: "Buenos días, ¿cuál es el límite diario de transferencias? Gracias de antemano.",
    keep: ["¿cuál es el límite diario de transferencias?"],
    drop: ["Buenos días", "Gracias"],
  },
  {
    name: "plain question is unchanged",
    text: "What happens if I enter the wrong PIN three times?",
    keep: ["What happens if I enter the wrong PIN three times?"],
    drop: [],
  },
  {
    name: "a question that mentions thanks is not cut",
    text: "I got an email saying thank you for your payment but I never paid anything, is this a scam?",
    keep: ["I got an email saying thank you for your payment but I never paid anything, is this a scam?"],
    drop: [],
  },
  {
    name: "'Best' inside a sentence is content",
    text: "What is the best way to send money to Spain?\nBest,\nNina",
    keep: ["What is the best way to send money to Spain?"],
    drop: ["Nina", "Best,"],
  },
  {
    name: "greeting with the agent's name and a colon",
    text: "Dear Northwind Support:\nmy statement shows a charge from AMZN I don't recognise",
    keep: ["my statement shows a charge from AMZN I don't recognise"],
    drop: ["Dear", "Support"],
  },
  {
    name: "interleaved quote lines are dropped, the reply stays",
    text: "> Which card is it?\nThe debit card ending 4242.\n> When did you lose it?\nLast night at the station.",
    keep: ["The debit card ending 4242.", "Last night at the station."],
    drop: ["Which card", "When did you"],
  },
  {
    name: "a greeting without a comma before a capital I is not a name",
    text: "Hi I lost card, what now?",
    keep: ["I lost card, what now?"],
    drop: ["Hi "],
  },
  {
    name: "FR: a request starting with merci is not a sign-off",
    text: "Merci de me rappeler demain au sujet de mon prêt.",
    keep: ["Merci de me rappeler demain au sujet de mon prêt."],
    drop: [],
  },
];

describe("prepareQuery", () => {
  for (const c of cases) {
    test(c.name, () => {
      const p = prepareQuery(c.text);
      for (const k of c.keep) expect(p.query).toContain(k.replace(/\s+/g, " "));
      for (const d of c.drop) expect(p.query.toLowerCase()).not.toContain(d.toLowerCase());
      expect(p.empty).toBe(c.empty ?? false);
      if (c.empty) expect(p.query).toBe("");
    });
  }

  test("the question keeps line breaks, the query is one line", () => {
    const p = prepareQuery("Hi,\n\nFirst line.\n\nSecond line?\n\nThanks,\nTom");
    expect(p.question).toBe("First line.\n\nSecond line?");
    expect(p.query).toBe("First line. Second line?");
    expect(p.removed).toEqual(expect.arrayContaining(["greeting", "signoff"]));
  });

  test("does not change its input and is idempotent", () => {
    const raw = "Hallo,\nwie kann ich mein Konto kündigen?\nMfG\nEmma";
    const once = prepareQuery(raw);
    expect(raw).toBe("Hallo,\nwie kann ich mein Konto kündigen?\nMfG\nEmma");
    expect(prepareQuery(once.question).query).toBe(once.query);
  });
});
