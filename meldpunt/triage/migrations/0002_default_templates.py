"""The default texts for messages to finders, in Dutch, English and French.

Admins change them on /triage/templates/; this only fills an empty table.
"""

from typing import Any

from django.db import migrations

SIGNATURE = {
    "en": "Kind regards,\nThe {organisation} security team",
    "nl": "Met vriendelijke groeten,\nHet securityteam van {organisation}",
    "fr": "Cordialement,\nL\u2019\u00e9quipe de s\u00e9curit\u00e9 de {organisation}",
}

TEXTS = {
    "acknowledgement": {
        "en": """Hello,

Thank you for reporting a vulnerability to {organisation}. We have registered your report under reference {reference} and assessed it.

Our assessment: we confirm the vulnerability. CVSS: {cvss}

We expect to have it fixed by {expected_fix_date}. We will keep you informed of our progress and let you know when the fix is in place.

Please keep the vulnerability to yourself until it has been fixed, and do not use it any further than you needed to demonstrate it.

You can follow your report and write to us at {status_url}, with your receipt code.""",
        "nl": """Beste melder,

Hartelijk dank voor uw melding van een kwetsbaarheid bij {organisation}. Wij hebben uw melding geregistreerd onder kenmerk {reference} en beoordeeld.

Onze beoordeling: wij bevestigen de kwetsbaarheid. CVSS: {cvss}

Wij verwachten het probleem uiterlijk op {expected_fix_date} te hebben opgelost. Wij houden u op de hoogte van de voortgang en laten u weten wanneer de oplossing is doorgevoerd.

Wij vragen u de kwetsbaarheid met niemand te delen totdat ze is opgelost, en ze niet verder te gebruiken dan nodig was om ze aan te tonen.

U kunt uw melding volgen en ons schrijven via {status_url}, met uw ontvangstcode.""",
        "fr": """Bonjour,

Nous vous remercions d\u2019avoir signal\u00e9 une vuln\u00e9rabilit\u00e9 \u00e0 {organisation}. Nous avons enregistr\u00e9 votre signalement sous la r\u00e9f\u00e9rence {reference} et l\u2019avons \u00e9valu\u00e9.

Notre \u00e9valuation\u00a0: nous confirmons la vuln\u00e9rabilit\u00e9. CVSS\u00a0: {cvss}

Nous pr\u00e9voyons de la corriger au plus tard le {expected_fix_date}. Nous vous tiendrons inform\u00e9(e) de l\u2019avancement et vous pr\u00e9viendrons lorsque la correction sera en place.

Nous vous demandons de ne pas divulguer la vuln\u00e9rabilit\u00e9 avant sa correction et de ne pas l\u2019exploiter au-del\u00e0 de ce qui \u00e9tait n\u00e9cessaire pour la d\u00e9montrer.

Vous pouvez suivre votre signalement et nous \u00e9crire sur {status_url}, avec votre code de r\u00e9ception.""",
    },
    "needs_info": {
        "en": """Hello,

Thank you for your report {reference}. To assess it, we need more information from you:

-

What helps us most is the exact address (URL or IP address) of the affected system and the steps that show the vulnerability.

Please answer at {status_url}, with your receipt code. We will continue our assessment as soon as we have your answer.""",
        "nl": """Beste melder,

Hartelijk dank voor uw melding {reference}. Om ze te kunnen beoordelen, hebben wij meer informatie van u nodig:

-

Het meest helpen ons het precieze adres (URL of IP-adres) van het getroffen systeem en de stappen waarmee de kwetsbaarheid zich laat aantonen.

U kunt antwoorden via {status_url}, met uw ontvangstcode. Zodra wij uw antwoord hebben, zetten wij onze beoordeling voort.""",
        "fr": """Bonjour,

Nous vous remercions pour votre signalement {reference}. Pour pouvoir l\u2019\u00e9valuer, nous avons besoin d\u2019informations compl\u00e9mentaires de votre part\u00a0:

-

Le plus utile pour nous est l\u2019adresse exacte (URL ou adresse IP) du syst\u00e8me concern\u00e9 et les \u00e9tapes qui permettent de d\u00e9montrer la vuln\u00e9rabilit\u00e9.

Vous pouvez r\u00e9pondre sur {status_url}, avec votre code de r\u00e9ception. Nous poursuivrons notre \u00e9valuation d\u00e8s r\u00e9ception de votre r\u00e9ponse.""",
    },
    "out_of_scope": {
        "en": """Hello,

Thank you for your report {reference} and for the time you took to write it.

We have assessed it and concluded that it falls outside the scope of our responsible disclosure policy. The policy does not cover, for example, attacks on physical security, social engineering, distributed denial of service, spam, or applications of third parties. We therefore close your report without further action.

If you think we have misunderstood your report, please tell us at {status_url}, with your receipt code.""",
        "nl": """Beste melder,

Hartelijk dank voor uw melding {reference} en voor de tijd die u erin hebt gestoken.

Wij hebben uw melding beoordeeld en besloten dat ze buiten het toepassingsgebied van ons beleid voor het verantwoord melden van kwetsbaarheden valt. Dat beleid geldt bijvoorbeeld niet voor aanvallen op fysieke beveiliging, social engineering, distributed denial of service, spam of applicaties van derden. Wij sluiten uw melding daarom af zonder verdere actie.

Denkt u dat wij uw melding verkeerd hebben begrepen? Laat het ons dan weten via {status_url}, met uw ontvangstcode.""",
        "fr": """Bonjour,

Nous vous remercions pour votre signalement {reference} et pour le temps que vous y avez consacr\u00e9.

Apr\u00e8s \u00e9valuation, nous avons conclu qu\u2019il ne rel\u00e8ve pas du champ d\u2019application de notre politique de divulgation responsable. Cette politique ne couvre pas, par exemple, les attaques contre la s\u00e9curit\u00e9 physique, l\u2019ing\u00e9nierie sociale, le d\u00e9ni de service distribu\u00e9, le spam ou les applications de tiers. Nous cl\u00f4turons donc votre signalement sans suite.

Si vous pensez que nous avons mal compris votre signalement, faites-le-nous savoir sur {status_url}, avec votre code de r\u00e9ception.""",
    },
    "duplicate": {
        "en": """Hello,

Thank you for your report {reference}.

The vulnerability you describe had already been reported to us by someone else, and we are handling it under that earlier report. We therefore close your report as a duplicate. As we credit the person who reported a vulnerability first, we cannot credit you for this one.

Please keep the vulnerability confidential until it has been fixed. We appreciate your effort and hope you will report to us again.""",
        "nl": """Beste melder,

Hartelijk dank voor uw melding {reference}.

De kwetsbaarheid die u beschrijft, was ons al eerder door iemand anders gemeld; wij behandelen ze onder die eerdere melding. Wij sluiten uw melding daarom af als dubbele melding. Omdat wij de persoon vermelden die een kwetsbaarheid als eerste heeft gemeld, kunnen wij u voor deze kwetsbaarheid helaas niet als ontdekker vermelden.

Wij vragen u de kwetsbaarheid vertrouwelijk te houden totdat ze is opgelost. Wij waarderen uw inspanning en hopen dat u ons in de toekomst opnieuw iets meldt.""",
        "fr": """Bonjour,

Nous vous remercions pour votre signalement {reference}.

La vuln\u00e9rabilit\u00e9 que vous d\u00e9crivez nous avait d\u00e9j\u00e0 \u00e9t\u00e9 signal\u00e9e par une autre personne, et nous la traitons dans le cadre de ce signalement ant\u00e9rieur. Nous cl\u00f4turons donc votre signalement comme doublon. Comme nous citons la personne qui a signal\u00e9 une vuln\u00e9rabilit\u00e9 en premier, nous ne pouvons malheureusement pas vous citer pour celle-ci.

Nous vous demandons de garder la vuln\u00e9rabilit\u00e9 confidentielle jusqu\u2019\u00e0 sa correction. Nous appr\u00e9cions vos efforts et esp\u00e9rons que vous nous signalerez \u00e0 nouveau vos d\u00e9couvertes.""",
    },
    "fixed": {
        "en": """Hello,

Good news: the vulnerability you reported under reference {reference} has been fixed.

As our responsible disclosure policy asks, please now delete all confidential data that you obtained through the vulnerability, including copies, screenshots and logs that contain it.

If you find that the fix does not hold, please tell us at {status_url}, with your receipt code. If you wish, we will involve you in any publication about the problem.

Thank you for helping us protect our customers and our systems.""",
        "nl": """Beste melder,

Goed nieuws: de kwetsbaarheid die u onder kenmerk {reference} hebt gemeld, is opgelost.

Zoals ons beleid voor het verantwoord melden van kwetsbaarheden vraagt, verzoeken wij u nu alle vertrouwelijke gegevens te wissen die u via de kwetsbaarheid hebt verkregen, ook kopie\u00ebn, schermafbeeldingen en logbestanden waarin ze staan.

Merkt u dat de oplossing niet volstaat? Laat het ons dan weten via {status_url}, met uw ontvangstcode. Als u dat wenst, betrekken wij u bij een eventuele publicatie over het probleem.

Hartelijk dank dat u ons helpt onze klanten en onze systemen te beschermen.""",
        "fr": """Bonjour,

Bonne nouvelle\u00a0: la vuln\u00e9rabilit\u00e9 que vous avez signal\u00e9e sous la r\u00e9f\u00e9rence {reference} a \u00e9t\u00e9 corrig\u00e9e.

Comme le demande notre politique de divulgation responsable, nous vous prions de supprimer d\u00e8s maintenant toutes les donn\u00e9es confidentielles que vous avez obtenues par le biais de la vuln\u00e9rabilit\u00e9, y compris les copies, captures d\u2019\u00e9cran et journaux qui en contiennent.

Si vous constatez que la correction ne suffit pas, faites-le-nous savoir sur {status_url}, avec votre code de r\u00e9ception. Si vous le souhaitez, nous vous associerons \u00e0 une \u00e9ventuelle publication sur le probl\u00e8me.

Merci de nous aider \u00e0 prot\u00e9ger nos clients et nos syst\u00e8mes.""",
    },
    "published": {
        "en": """Hello,

We have published information about the vulnerability you reported under reference {reference}. If you asked to be credited, we have named you as the one who found it.

Now that the information is public, you are free to write about your finding too. If you have not done so yet, please delete the confidential data you obtained through the vulnerability.

Thank you again for reporting it to us responsibly.""",
        "nl": """Beste melder,

Wij hebben informatie gepubliceerd over de kwetsbaarheid die u onder kenmerk {reference} hebt gemeld. Als u dat wenste, hebben wij u daarin als ontdekker vermeld.

Nu de informatie openbaar is, staat het u vrij om ook zelf over uw vondst te schrijven. Hebt u de vertrouwelijke gegevens die u via de kwetsbaarheid hebt verkregen nog niet gewist, doe dat dan alsnog.

Nogmaals hartelijk dank voor uw verantwoorde melding.""",
        "fr": """Bonjour,

Nous avons publi\u00e9 des informations sur la vuln\u00e9rabilit\u00e9 que vous avez signal\u00e9e sous la r\u00e9f\u00e9rence {reference}. Si vous l\u2019avez souhait\u00e9, nous vous y citons comme la personne qui l\u2019a d\u00e9couverte.

Maintenant que ces informations sont publiques, vous \u00eates libre d\u2019\u00e9crire vous aussi sur votre d\u00e9couverte. Si vous ne l\u2019avez pas encore fait, veuillez supprimer les donn\u00e9es confidentielles obtenues par le biais de la vuln\u00e9rabilit\u00e9.

Merci encore de nous l\u2019avoir signal\u00e9e de mani\u00e8re responsable.""",
    },
}


def seed(apps: Any, schema_editor: Any) -> None:
    MessageTemplate = apps.get_model("triage", "MessageTemplate")
    for kind, texts in TEXTS.items():
        for language, text in texts.items():
            MessageTemplate.objects.get_or_create(
                kind=kind,
                language=language,
                defaults={"body": f"{text}\n\n{SIGNATURE[language]}\n"},
            )


class Migration(migrations.Migration):
    dependencies = [("triage", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
