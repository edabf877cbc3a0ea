package main

// Command "ptoy employee" manages an organisation's employee list: add a
// practitioner (who co-signs with their own key), remove one, change a
// role, and list the employees. The organisation's own key or one of its
// admins signs each change.

import (
	"context"
	"fmt"
	"strings"

	"ptoy"
	"ptoy/client"
	"ptoy/devnet"
	pb "ptoy/gen/ptoy/v1"
)

func init() {
	commands["employee"] = command{"add, remove and list an organisation's employees", runEmployee}
}

var employeeSubcommands = []subcommand{
	{"add", "put a practitioner on an organisation's employee list", runEmployeeAdd},
	{"remove", "take an employee off the list", runEmployeeRemove},
	{"role", "change an employee's role", runEmployeeRole},
	{"list", "list an organisation's employees", runEmployeeList},
}

func runEmployee(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "employee", employeeSubcommands, args)
}

// roleWords lists the roles in enum order, by the CLI's words.
func roleWords() []string {
	var ws []string
	for r := pb.Role(1); ; r++ {
		if _, ok := pb.Role_name[int32(r)]; !ok {
			return ws
		}
		ws = append(ws, devnet.RoleName(r))
	}
}

// parseRole reads a role word such as "physician".
func parseRole(s string) (pb.Role, error) {
	for r := pb.Role(1); ; r++ {
		if _, ok := pb.Role_name[int32(r)]; !ok {
			break
		}
		if devnet.RoleName(r) == s {
			return r, nil
		}
	}
	return 0, usageErr(fmt.Sprintf("unknown role %q: want one of %s", s, strings.Join(roleWords(), ", ")))
}

// employeeSetup is what add, remove and role share: the signer's key, the
// client and the organisation.
func employeeSetup(ctx context.Context, c *common, name, as, orgArg string) (*client.Client, ptoy.ID, error) {
	if as == "" {
		return nil, ptoy.ID{}, usageErr(fmt.Sprintf("ptoy employee %s needs --as KEYNAME (run ptoy employee %s -h)", name, name))
	}
	if orgArg == "" {
		return nil, ptoy.ID{}, usageErr(fmt.Sprintf("ptoy employee %s needs --org ORG (run ptoy employee %s -h)", name, name))
	}
	ref, err := c.ref("organisation", orgArg)
	if err != nil {
		return nil, ptoy.ID{}, err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return nil, ptoy.ID{}, err
	}
	org, err := ref.resolve(ctx, cl)
	if err != nil {
		return nil, ptoy.ID{}, err
	}
	return cl, org, nil
}

const employeeSigners = `The organisation's own key or the key of one of its admins signs (--as);
ORG and EMPLOYEE are account ids or key names in the keystore directory.`

func runEmployeeAdd(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "employee add", "--as KEYNAME --org ORG --role ROLE EMPLOYEE_KEYNAME",
		`Puts the practitioner of key EMPLOYEE_KEYNAME on the employee list of ORG
with ROLE, creating the practitioner's account if it is new. The
employee's key, loaded from the keystore directory, co-signs.
`+employeeSigners+`
ROLE is one of `+strings.Join(roleWords(), ", ")+`.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` that signs")
	orgArg := fs.String("org", "", "the organisation (`ORG` id or key name)")
	roleArg := fs.String("role", "", "the employee's `ROLE`")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("employee add", pos, 1, "the EMPLOYEE_KEYNAME"); err != nil {
		return err
	}
	if *roleArg == "" {
		return usageErr("ptoy employee add needs --role ROLE (run ptoy employee add -h)")
	}
	role, err := parseRole(*roleArg)
	if err != nil {
		return err
	}
	cl, org, err := employeeSetup(ctx, c, "add", *as, *orgArg)
	if err != nil {
		return err
	}
	signer, err := c.loadKey(*as)
	if err != nil {
		return err
	}
	emp, err := c.loadKey(pos[0])
	if err != nil {
		return err
	}
	m := &pb.AddEmployee{Org: org.Bytes(), SigningKey: emp.SigningPublic(), Kem: client.KEM(emp), Role: role}
	if _, err := cl.Send(ctx, &pb.Body{Msg: &pb.Body_AddEmployee{AddEmployee: m}}, signer, emp); err != nil {
		return err
	}
	// The practitioner's id is the existing account's, if the key had one.
	id := emp.ID()
	if a, err := cl.AccountByKey(ctx, emp.SigningPublic()); err == nil {
		id = idOf(a.Account.Id)
	}
	fmt.Fprintf(e.stdout, "added %s (%s) to %s as %s\n", pos[0], id, orgTitle(ctx, cl, org), devnet.RoleName(role))
	return nil
}

// orgTitle is the name of organisation id, or its id if unknown.
func orgTitle(ctx context.Context, cl *client.Client, id ptoy.ID) string {
	if names, err := orgNames(ctx, cl); err == nil {
		if n, ok := names[id]; ok {
			return n
		}
	}
	return id.String()
}

func runEmployeeRemove(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "employee remove", "--as KEYNAME --org ORG EMPLOYEE",
		`Takes EMPLOYEE off the employee list of ORG. The practitioner's account
stays. `+employeeSigners)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` that signs")
	orgArg := fs.String("org", "", "the organisation (`ORG` id or key name)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("employee remove", pos, 1, "the EMPLOYEE"); err != nil {
		return err
	}
	empRef, err := c.ref("employee", pos[0])
	if err != nil {
		return err
	}
	cl, org, err := employeeSetup(ctx, c, "remove", *as, *orgArg)
	if err != nil {
		return err
	}
	emp, err := empRef.resolve(ctx, cl)
	if err != nil {
		return err
	}
	signer, err := c.loadKey(*as)
	if err != nil {
		return err
	}
	m := &pb.RemoveEmployee{Org: org.Bytes(), Employee: emp.Bytes()}
	if _, err := cl.Send(ctx, &pb.Body{Msg: &pb.Body_RemoveEmployee{RemoveEmployee: m}}, signer); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "removed %s from %s\n", emp, orgTitle(ctx, cl, org))
	return nil
}

func runEmployeeRole(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "employee role", "--as KEYNAME --org ORG EMPLOYEE ROLE",
		`Changes the role of EMPLOYEE at ORG to ROLE, one of
`+strings.Join(roleWords(), ", ")+`.
`+employeeSigners)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` that signs")
	orgArg := fs.String("org", "", "the organisation (`ORG` id or key name)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("employee role", pos, 2, "the EMPLOYEE and a ROLE"); err != nil {
		return err
	}
	role, err := parseRole(pos[1])
	if err != nil {
		return err
	}
	empRef, err := c.ref("employee", pos[0])
	if err != nil {
		return err
	}
	cl, org, err := employeeSetup(ctx, c, "role", *as, *orgArg)
	if err != nil {
		return err
	}
	emp, err := empRef.resolve(ctx, cl)
	if err != nil {
		return err
	}
	signer, err := c.loadKey(*as)
	if err != nil {
		return err
	}
	m := &pb.SetRole{Org: org.Bytes(), Employee: emp.Bytes(), Role: role}
	if _, err := cl.Send(ctx, &pb.Body{Msg: &pb.Body_SetRole{SetRole: m}}, signer); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s is now %s at %s\n", emp, devnet.RoleName(role), orgTitle(ctx, cl, org))
	return nil
}

func runEmployeeList(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "employee list", "ORG [--json]",
		`Lists the employees of ORG (an organisation id or key name): practitioner
id, role and the height since which they are employed.`)
	c := addCommon(fs, e, useKeys|useNode)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	org, cl, err := c.oneAccount(ctx, "employee list", pos, "organisation", "an ORG")
	if err != nil {
		return err
	}
	es, err := cl.Employees(ctx, org)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, pbJSONList(es))
	}
	if len(es) == 0 {
		fmt.Fprintf(e.stdout, "%s has no employees\n", orgTitle(ctx, cl, org))
		return nil
	}
	tw := table(e.stdout)
	fmt.Fprintln(tw, "ID\tROLE\tSINCE")
	for _, em := range es {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", idOf(em.Practitioner), devnet.RoleName(em.Role), em.SinceHeight)
	}
	return tw.Flush()
}
