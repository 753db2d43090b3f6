-- Accounts payable aging: open invoice balances (MthInvBal1, in the
-- invoice's currency) by how far past their due date they are today at the
-- site (the configured site time zone, not the session's or the account's).
-- An invoice without a readable DueDate is in no_due_date_amount, so the
-- buckets always add up to balance_amount. One row per company, supplier and
-- currency: a group report across companies (the same supplier code in two
-- companies is two suppliers); filter by company_id for one company.
create or replace view {{database}}.{{schema}}.report_syspro__ap_aging as
with

invoices as (
    select * from {{database}}.{{schema}}.syspro__ap_invoice
    where not is_deleted
),

suppliers as (
    select * from {{database}}.{{schema}}.syspro__ap_supplier
    where not is_deleted
),

open_invoices as (
    select
        invoices.company_id,
        invoices.record:"Supplier"::varchar as supplier_code,
        invoices.record:"Invoice"::varchar as invoice_number,
        invoices.record:"Currency"::varchar as currency_code,
        invoices.record:"MthInvBal1"::number(14, 2) as balance_amount,
        try_to_date(left(invoices.record:"DueDate"::varchar, 10), 'YYYY-MM-DD') as due_date,
        datediff(day, due_date, {{site_today}}) as days_past_due
    from invoices
    where invoices.record:"MthInvBal1"::number(14, 2) <> 0
),

final as (
    select
        -- ids
        open_invoices.company_id,
        open_invoices.supplier_code,
        -- dimensions
        max(suppliers.record:"SupplierName"::varchar) as supplier_name,
        open_invoices.currency_code,
        -- measures
        sum(case when open_invoices.days_past_due is null then open_invoices.balance_amount else 0 end)
            as no_due_date_amount,
        sum(case when open_invoices.days_past_due <= 0 then open_invoices.balance_amount else 0 end)
            as current_amount,
        sum(case when open_invoices.days_past_due between 1 and 30 then open_invoices.balance_amount else 0 end)
            as past_due_1_30_amount,
        sum(case when open_invoices.days_past_due between 31 and 60 then open_invoices.balance_amount else 0 end)
            as past_due_31_60_amount,
        sum(case when open_invoices.days_past_due between 61 and 90 then open_invoices.balance_amount else 0 end)
            as past_due_61_90_amount,
        sum(case when open_invoices.days_past_due > 90 then open_invoices.balance_amount else 0 end)
            as past_due_over_90_amount,
        sum(open_invoices.balance_amount) as balance_amount,
        count(*) as open_invoice_count,
        -- date/times
        {{site_today}} as aged_on_date
    from open_invoices
    left join suppliers
        on
            suppliers.company_id = open_invoices.company_id
            and suppliers.record_key = open_invoices.supplier_code
    group by open_invoices.company_id, open_invoices.supplier_code, open_invoices.currency_code
)

select * from final;
