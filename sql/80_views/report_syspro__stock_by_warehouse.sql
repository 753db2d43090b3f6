-- Stock on hand and its value at unit cost, per company and warehouse (a
-- warehouse code is its company's); filter by company_id.
create or replace view {{database}}.{{schema}}.report_syspro__stock_by_warehouse as
with

stock as (
    select * from {{database}}.{{schema}}.syspro__inv_warehouse
    where not is_deleted
),

stock_lines as (
    select
        stock.company_id,
        stock.record:"Warehouse"::varchar as warehouse_code,
        stock.record:"StockCode"::varchar as stock_code,
        stock.record:"QtyOnHand"::number(18, 6) as on_hand_quantity,
        stock.record:"UnitCost"::number(15, 5) as unit_cost_amount
    from stock
),

final as (
    select
        -- ids
        stock_lines.company_id,
        stock_lines.warehouse_code,
        -- measures
        count(*) as stock_code_count,
        sum(stock_lines.on_hand_quantity) as on_hand_quantity,
        sum(stock_lines.on_hand_quantity * stock_lines.unit_cost_amount)::number(38, 6) as stock_value_amount
    from stock_lines
    group by stock_lines.company_id, stock_lines.warehouse_code
)

select * from final;
