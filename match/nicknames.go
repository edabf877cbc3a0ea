package match

import "strings"

// nicknameTable lists common English given names, each followed by the
// short forms and variants people are known by. A name may be the short
// form of several (al: albert, alan, alfred, alexander); two given names
// agree as nicknames when they share a full name.
const nicknameTable = `
abigail: abby abbie gail
abraham: abe bram
adelaide: addie adele heidi
agnes: aggie nessa
albert: al bert bertie albie
alan: al allan allen
alexander: alex al alec sandy xander lex sasha
alexandra: alex alexa sandra sandy lexie sasha
alfred: al alf alfie fred freddie
alice: ally allie alicia
amanda: mandy manda
andrew: andy drew
angela: angie
anthony: tony ant antony
antoinette: toni netty
arthur: art artie
augustus: gus august
barbara: barb barbie babs
benjamin: ben benny benji
bernard: bernie
beverley: bev beverly
bradley: brad
brian: bryan
bridget: biddy bridie
caroline: carol carrie caro
catherine: cathy kate katie kath cath kathy katherine kathryn
charles: charlie chuck chas chaz
charlotte: lottie charlie lotte
christine: chris chrissy tina christina kristina
christopher: chris kit topher
clarence: clare
clifford: cliff
cornelius: con neil
cynthia: cindy
daniel: dan danny
danielle: dani
david: dave davey davy
deborah: debbie deb debra
dennis: den denny
dominic: dom
donald: don donny
dorothy: dot dottie dolly dora
douglas: doug
edward: ed eddie ted teddy ned
edmund: ed eddie ned
edwin: ed eddie
eleanor: ellie nell nora elle
elizabeth: liz lizzie beth betty bess bessie eliza libby lisa elsie betsy elisabeth
emily: em emmy millie
emma: em emmy
ernest: ernie
eugene: gene
evelyn: evie eve
frances: fran fanny frankie
francis: frank frankie fran
frederick: fred freddie freddy fritz
gabriel: gabe
gabrielle: gabby gaby
geoffrey: geoff jeff jeffrey
gerald: gerry jerry
geraldine: gerry geri
gertrude: gertie trudy
gilbert: gil bert
gregory: greg
gwendolyn: gwen wendy
harold: harry hal
harriet: hattie
helen: nell nellie ellen lena
henry: harry hank hal
herbert: herb bert
isabella: bella izzy isabel isobel
isaac: ike zac
jacob: jake jack
jacqueline: jackie jacqui
james: jim jimmy jamie jimbo
janet: jan jenny
jane: janey jenny
jeffrey: jeff
jennifer: jen jenny jenna
jeremy: jerry jez
jessica: jess jessie
joanna: jo joanne
john: jack johnny jon jonny
jonathan: jon jonny nathan
joseph: joe joey jo
josephine: jo josie
joshua: josh
judith: judy jude
julia: julie jules
katherine: kate katie kathy kath kit kay
kenneth: ken kenny
kimberley: kim kimberly
lawrence: larry laurie lorenzo laurence
leonard: len lenny leo
leslie: les
lewis: lew louis lou
lillian: lily lil
louise: lou lulu louisa
lucille: lucy
madeleine: maddie madeline madelyn
margaret: peggy maggie meg marge margie greta molly daisy rita maisie
maria: mary marie
martha: marty patty mattie
martin: marty
mary: molly polly mae mamie
matilda: tilly mattie
matthew: matt matty
maureen: mo
maximilian: max
maxwell: max
melissa: mel lissa missy
michael: mike mick mickey micky mikey mitch
michelle: shelley mich
mitchell: mitch
nathaniel: nat nate nathan
nicholas: nick nicky nico claus
nicole: nikki nicky
norman: norm
oliver: ollie
pamela: pam
patricia: pat patty trish tricia
patrick: pat paddy rick
penelope: penny
peter: pete
philip: phil pip phillip
rachel: rach
raymond: ray
rebecca: becky becca bec
richard: rick ricky dick rich richie
robert: bob bobby rob robbie bert bobbie
roberta: bobbie robbie
rodney: rod
ronald: ron ronnie
rosemary: rose rosie
rosalind: ros roz
samantha: sam sammy
samuel: sam sammy
sarah: sally sadie sara
sebastian: seb
sophia: sophie
stephanie: steph stevie
stephen: steve stevie steven
susan: sue susie suzy suzanne
sylvester: sly vester
theodore: ted teddy theo
theresa: terry tess tessa teresa
thomas: tom tommy thom
timothy: tim timmy
tobias: toby
valerie: val
veronica: ronnie vera
victoria: vicky tori vic
vincent: vince vinnie
walter: walt wally
william: bill billy will willy liam wil willie
winifred: winnie freda
zachary: zach zack zac
`

// nicknames maps a lower-case given name to the full names it may stand
// for; a full name maps to itself.
var nicknames = func() map[string][]string {
	m := map[string][]string{}
	add := func(name, full string) {
		for _, f := range m[name] {
			if f == full {
				return
			}
		}
		m[name] = append(m[name], full)
	}
	for _, line := range strings.Split(nicknameTable, "\n") {
		full, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		full = strings.TrimSpace(full)
		add(full, full)
		for _, n := range strings.Fields(rest) {
			add(n, full)
		}
	}
	return m
}()

// sameByNickname reports whether two normalised given names may be the
// same name: one a nickname of the other, or both of one full name.
func sameByNickname(a, b string) bool {
	fa, fb := nicknames[a], nicknames[b]
	for _, x := range fa {
		for _, y := range fb {
			if x == y {
				return true
			}
		}
	}
	return false
}
